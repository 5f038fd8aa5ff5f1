/**
 * A systemd timer that starts its service a minute after boot and every minute after that (the master's
 * periodic jobs: the calculations metric, the run-time settings). 5 s accuracy lets systemd batch wake-ups.
 * @param description the timer's `Description=`
 */
export function renderMinuteTimer(description: string): string {
  return [
    '[Unit]',
    `Description=${description}`,
    '',
    '[Timer]',
    'OnBootSec=60',
    'OnUnitActiveSec=60',
    'AccuracySec=5',
    '',
    '[Install]',
    'WantedBy=timers.target',
    '',
  ].join('\n');
}
