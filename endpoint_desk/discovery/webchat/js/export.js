// What Python calls (page.evaluate("window.__deskDiscover.<name>(...)")).
window.__deskDiscover = {
  fingerprint, loginWall, loginLink, inputs, controls, record, recorded, stopRecording, find,
  describeReply, selectorsDetail, growth, toggled, checkSelector, samples, inputState, outline, hashed,
};
