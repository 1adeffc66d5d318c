"""``lesionviewer-node``: run the AI node (see :mod:`lesionviewer.pacs.node`) until interrupted.

Example:
    >>> args = build_parser().parse_args(["--state", "/tmp/n", "--dest-ae", "PACS", "--dest-host", "pacs"])
    >>> destination(args).describe(), args.port, args.quiet
    ('PACS@pacs:104', 11112, 5.0)
    >>> web = build_parser().parse_args(["--state", "s", "--dest-url", "https://pacs/dw", "--dest-auth", "bearer"])
    >>> destination(web).auth
    'bearer'
"""
from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
import threading

from lesionviewer.pacs.server import PacsServer


def build_parser() -> argparse.ArgumentParser:
    """The command line.

    Example:
        >>> build_parser().prog
        'lesionviewer-node'
    """
    p = argparse.ArgumentParser(prog="lesionviewer-node",
                                description="A DICOM node: receive CT series (C-STORE), detect lesions, "
                                            "send the findings back as a DICOM SR.")
    p.add_argument("--state", required=True, help="folder for the queue, received series and reports")
    p.add_argument("--ae", default="LVNODE", help="our AE title (default LVNODE)")
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    p.add_argument("--port", type=int, default=11112, help="port to listen on (default 11112)")
    p.add_argument("--dest-ae", help="AE title of the PACS that receives the SRs (C-STORE)")
    p.add_argument("--dest-host", help="its host")
    p.add_argument("--dest-port", type=int, default=104, help="its port (default 104)")
    p.add_argument("--dest-url", help="or a DICOMweb URL to STOW-RS the SRs to")
    p.add_argument("--dest-auth", choices=("none", "basic", "bearer"), default="none",
                   help="DICOMweb authentication; the password or token is read from the environment "
                        "variable LESIONVIEWER_NODE_SECRET (never from the command line)")
    p.add_argument("--dest-user", default="", help="DICOMweb user name for --dest-auth basic")
    p.add_argument("--poll-url", help="also poll this DICOMweb server for new CT series (QIDO-RS, WADO-RS)")
    p.add_argument("--poll-auth", choices=("none", "basic", "bearer"), default="none",
                   help="its authentication; the secret is read from LESIONVIEWER_NODE_POLL_SECRET")
    p.add_argument("--poll-user", default="", help="its user name for --poll-auth basic")
    p.add_argument("--poll-every", type=float, default=30.0, help="seconds between polls (default 30)")
    p.add_argument("--poll-since", default=None, help="only studies dated YYYYMMDD or later (default: today)")
    p.add_argument("--model", help="detector model file (default: the shipped demo model)")
    p.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:1, mps")
    p.add_argument("--min-score", type=float, default=0.5,
                   help="report findings scoring at least this (default 0.5, like lesionviewer-detect)")
    p.add_argument("--quiet", type=float, default=5.0,
                   help="seconds without a new instance after which a series counts as complete (default 5)")
    return p


def destination(args: argparse.Namespace) -> PacsServer | None:
    """Where the SRs go, from the arguments (None: kept in the state folder only).

    Example:
        >>> destination(build_parser().parse_args(["--state", "s"])) is None
        True
    """
    if args.dest_url:
        return PacsServer("destination", url=args.dest_url, calling_ae=args.ae, auth=args.dest_auth,
                          username=args.dest_user)
    if args.dest_ae and args.dest_host:
        return PacsServer("destination", kind="dimse", ae_title=args.dest_ae, host=args.dest_host,
                          port=args.dest_port, calling_ae=args.ae)
    return None


def main(argv: list[str] | None = None) -> int:
    """Run the node until SIGINT or SIGTERM.

    Example:
        >>> main(["--state", "/tmp/n", "--port", "0"])
        Traceback (most recent call last):
        ...
        SystemExit: lesionviewer-node: --port must be 1-65535
    """
    from lesionviewer.pacs.node import AiNode, NodeConfig

    args = build_parser().parse_args(argv)
    if not 0 < args.port < 65536:
        raise SystemExit("lesionviewer-node: --port must be 1-65535")
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s", stream=sys.stderr)
    config = NodeConfig(state_dir=args.state, ae_title=args.ae, host=args.host, port=args.port,
                        destination=destination(args), device=args.device, quiet_s=args.quiet,
                        destination_secret=os.environ.get("LESIONVIEWER_NODE_SECRET"), min_score=args.min_score)
    if args.model:
        config.model_path = args.model
    if args.poll_url:
        config.poll = PacsServer("poll", url=args.poll_url, auth=args.poll_auth, username=args.poll_user)
        config.poll_secret = os.environ.get("LESIONVIEWER_NODE_POLL_SECRET")
        config.poll_every_s = args.poll_every
        if args.poll_since:
            config.poll_since = args.poll_since
    node = AiNode(config)
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    node.start()
    print(f"lesionviewer-node: ready ({args.ae} on {args.host}:{args.port})", flush=True)
    stop.wait()
    node.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
