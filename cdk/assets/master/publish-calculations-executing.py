# Publish how many engine calculations are in status 'executing' (the master's systemd timer, every minute).
#
# The dashboard's stuck-calculation alarm compares this with the bridge's active tasks and queue. It counts them
# in the engine database (engine_database.py) and calls PutMetricData with botocore from the boot's tools venv.
# Names and values come from the environment that the systemd unit sets; nothing here is cluster-specific.
import os
# For engine_database's definitions, which the boot inlines below.
import sqlite3
import sys

import botocore.session


from engine_database import count_executing


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
