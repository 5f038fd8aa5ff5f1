# Publish how many engine calculations are in status 'executing' (the master's systemd timer, every minute).
#
# The dashboard's stuck-calculation alarm compares this with the bridge's active tasks and queue. It reads the
# engine database read-only (engine 3.11.5: table `job`, column `status`, openquake/server/db/schema/upgrades),
# the way the engine's own get_executing_jobs does, and calls PutMetricData with botocore from the boot's tools
# venv. Names and values come from the environment that the systemd unit sets; nothing here is cluster-specific.
import os
import sqlite3
import sys

import botocore.session


def count_executing(db_path):
    # Before the DbServer first creates the database there is no calculation at all.
    if not os.path.exists(db_path):
        return 0
    # Read-only: this never takes a write lock that the DbServer could wait on.
    conn = sqlite3.connect('file:%s?mode=ro' % db_path, uri=True, timeout=30)
    try:
        (count,) = conn.execute("SELECT count(*) FROM job WHERE status = 'executing'").fetchone()
        return count
    finally:
        conn.close()


def main():
    env = os.environ
    count = count_executing(env['OQ_ENGINE_DB'])
    client = botocore.session.get_session().create_client('cloudwatch')
    client.put_metric_data(
        Namespace=env['OQ_METRIC_NAMESPACE'],
        MetricData=[
            {
                'MetricName': env['OQ_METRIC_NAME'],
                'Dimensions': [{'Name': env['OQ_METRIC_DIMENSION'], 'Value': env['OQ_METRIC_DIMENSION_VALUE']}],
                'Value': count,
                'Unit': 'Count',
            }
        ],
    )
    print('%s=%d' % (env['OQ_METRIC_NAME'], count))
    return 0


if __name__ == '__main__':
    sys.exit(main())
