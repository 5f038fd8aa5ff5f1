# The engine database as the master's scripts read it (oq-elastic): read-only, engine 3.11.5's schema.
#
# Shared by oq-apply-settings and oq-calculations-metric. Each is installed as one file: the boot inlines this
# module's definitions where a script imports it (cdk/lib/master/master-script.ts), and the importing script
# imports what these definitions use (os, sqlite3). Run from cdk/assets/master/, the scripts import it as usual.
import os
import sqlite3


# Calculations in status 'executing' (engine 3.11.5: table `job`, column `status`,
# openquake/server/db/schema/upgrades), counted the way the engine's own get_executing_jobs selects them.
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
