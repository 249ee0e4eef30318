"""For the bench's child programs: a stop signal from the parent over stdin."""

import sys
import threading


def stop_on_stdin():
    """An event set when stdin says `stop` or closes (read on a daemon thread)."""
    stop = threading.Event()

    def read_stdin():
        for line in sys.stdin:
            if line.strip() == "stop":
                break
        stop.set()

    threading.Thread(target=read_stdin, daemon=True).start()
    return stop
