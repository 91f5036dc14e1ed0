"""A HOME whose ALSA config gives PortAudio a real speaker and microphone without hardware:
``edge_speaker`` (a ``type file`` PCM recording what is played into ``played.raw``, paced at the
sample rate by a small pipe reader, since its ``null`` slave has no clock) and ``edge_mic`` (a
``type file`` PCM capturing from a file or FIFO)."""

from __future__ import annotations

import sys
from pathlib import Path

PACER = """
import fcntl, os, sys, time
out, rate = sys.argv[1], int(sys.argv[2])
chunk, small, n = rate * 2 // 100, False, 0
t0 = time.monotonic()
with open(out, "wb", buffering=0) as fh:
    while True:
        if not small:
            try:
                fcntl.fcntl(0, 1031, 4096)  # F_SETPIPE_SZ: keep the pipe's buffer (latency) small
                small = True
            except OSError:
                pass
        data = os.read(0, chunk)
        if not data:
            break
        fh.write(data)
        n += len(data)
        delay = t0 + n / (rate * 2) - time.monotonic()
        if delay > 0:
            time.sleep(delay)
"""


def write_alsa_config(home: Path, mic_infile: Path, rate: int = 16000) -> None:
    """``home/.asoundrc`` with ``edge_speaker`` (-> ``home/played.raw``) and ``edge_mic`` (<- ``mic_infile``)."""
    (home / "pacer.py").write_text(PACER)
    (home / ".asoundrc").write_text(f"""
pcm.edge_speaker {{
    type file
    slave.pcm "null"
    file "|exec {sys.executable} {home}/pacer.py {home}/played.raw {rate}"
    format "raw"
}}
pcm.edge_mic {{
    type file
    slave.pcm "null"
    file "/dev/null"
    infile "{mic_infile}"
    format "raw"
}}
""")
