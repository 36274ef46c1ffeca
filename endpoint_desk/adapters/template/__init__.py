"""The ``template`` adapter: any other REST API, by configuration only.

- ``config``: ``options["template"]`` (every key, the placeholders) and its checks.
- ``render``: filling the URL, header and body templates with a request's values.
- ``paths``: reading the reply, usage, finish and status out of an answer.
- ``poll``: the submit-then-poll flow of job-style APIs.
- ``adapter``: ``TemplateAdapter``, one exchange (or a job) per chat request.
"""
