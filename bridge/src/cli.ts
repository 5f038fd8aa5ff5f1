#!/usr/bin/env -S npx tsx
/** The bridge's command line: `status`, `run`, `decide --dry-run`. */
console.error('usage: oq-elastic-bridge status|run|decide --dry-run');
process.exit(2);
