"""Submits tasks to the test app from the command line, for tests and the demo.

  python submit.py CALC_ID DURATION [DURATION ...]   one task per duration (seconds), task_no 0, 1, ...
  python submit.py CALC_ID --json FILE               durations from a JSON list in FILE
"""
import json
import sys

import oq_testapp


def main(argv):
    calc_id = int(argv[1])
    if argv[2] == "--json":
        with open(argv[3]) as f:
            durations = json.load(f)
    else:
        durations = [float(d) for d in argv[2:]]
    for task_no, duration in enumerate(durations):
        oq_testapp.submit(calc_id, task_no, duration)
    print(len(durations))


if __name__ == "__main__":
    main(sys.argv)
