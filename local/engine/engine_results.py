"""Prints, as one JSON document, what makes two runs of one engine job comparable: the exported hazard curves and
maps (the CSV values, without the first comment line, which holds the run's start date) and the datastore's
`hcurves-stats` and `hmaps-stats` arrays, plus the number of tasks of each phase from the datastore's task_info.

  python engine_results.py DATASTORE.hdf5 EXPORT_DIR

Runs on the engine's Python (h5py and numpy as the engine pins them). File names lose their `_<job id>` suffix.
"""
import collections
import json
import os
import re
import sys

import h5py

COMPARED_EXPORTS = re.compile(r"^(hazard_curve|hazard_map)-.*_\d+\.csv$")
COMPARED_DATASETS = ("hcurves-stats", "hmaps-stats")


def exported_values(export_dir):
    values = {}
    for name in sorted(os.listdir(export_dir)):
        if not COMPARED_EXPORTS.match(name):
            continue
        with open(os.path.join(export_dir, name)) as f:
            lines = f.read().splitlines()
        rows = [line.split(",") for line in lines if not line.startswith("#")]
        values[re.sub(r"_\d+\.csv$", ".csv", name)] = rows
    return values


def main(datastore, export_dir):
    with h5py.File(datastore, "r") as f:
        datasets = {}
        for name in COMPARED_DATASETS:
            array = f[name][()]
            datasets[name] = {"shape": list(array.shape), "values": array.ravel().tolist()}
        tasks = collections.Counter(row["taskname"].decode() for row in f["task_info"][()])
    json.dump({"csv": exported_values(export_dir), "datasets": datasets, "tasks": dict(tasks)}, sys.stdout)


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit("usage: engine_results.py DATASTORE.hdf5 EXPORT_DIR")
    main(sys.argv[1], sys.argv[2])
