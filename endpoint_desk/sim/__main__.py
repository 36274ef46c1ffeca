"""``python -m endpoint_desk.sim [--host H] [--port P] [--api-key K] [--knobs k=v,..]``."""

from __future__ import annotations

import argparse

from endpoint_desk.sim.knobs import KnobError, SimConfig
from endpoint_desk.sim.runner import run_sim


def main(argv: list[str] | None = None) -> None:
    """Parse the command line and serve the sim until Ctrl-C."""
    parser = argparse.ArgumentParser(prog="desk sim", description="simulated AI upstream")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument("--api-key", default=None)
    parser.add_argument("--models", default=None, help="comma-separated model names")
    parser.add_argument(
        "--protocols", default=None, help="serve only these, e.g. ollama or openai,anthropic"
    )
    parser.add_argument("--knobs", default="", help="e.g. latency=0.1,fail_rate=0.2,seed=1")
    args = parser.parse_args(argv)
    try:
        config = SimConfig.from_text(args.knobs, api_key=args.api_key)
        if args.models:
            config.models = [m.strip() for m in args.models.split(",") if m.strip()]
        if args.protocols:
            config.protocols = [p.strip() for p in args.protocols.split(",") if p.strip()]
        config.served()
    except KnobError as exc:
        parser.error(str(exc))
    run_sim(args.host, args.port, config)


if __name__ == "__main__":
    main()
