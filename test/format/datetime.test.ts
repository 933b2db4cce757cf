import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { parseDateTime } from '../../src/format/datetime.js';

/**
 * `ostree prune --keep-younger-than` reads its date with gnulib's parse_datetime, and so does
 * GNU `date -d`: date is the oracle for the part of that language grove reads. Relative dates
 * are checked as offsets: grove's from a fixed instant, date's from its own clock.
 */
const NOW = 1764600000; // 2025-12-01 14:40:00 UTC

function gnuDate(s: string, tz: string): bigint | null {
  const r = spawnSync('date', ['-d', s, '+%s'], { encoding: 'utf8', env: { ...process.env, TZ: tz } });
  return r.status === 0 ? BigInt(r.stdout.trim()) : null;
}

for (const tz of ['UTC', 'Europe/Berlin', 'America/New_York']) {
  test(`absolute dates as date -d reads them (TZ=${tz})`, () => {
    const saved = process.env['TZ'];
    process.env['TZ'] = tz;
    try {
      for (const s of [
        '@1660000000', '@0', '2023-11-14', '2023-11-14 22:13:20', '2023-11-14T22:13:20', '2023-11-14 22:13:20 +0000',
        '2023-11-14 22:13:20 +01:30', '2023-11-14T22:13:20Z', '2023-11-14 22:13 UTC', '2023-07-01 03:00:00 -0700',
        '11/14/2023', '11/14/2023 10:13 pm', '2023-11-14 12:00 am', '2024-02-29 23:59:59',
      ]) {
        assert.equal(parseDateTime(s), gnuDate(s, tz), `${s} (TZ=${tz})`);
      }
    } finally {
      if (saved === undefined) delete process.env['TZ'];
      else process.env['TZ'] = saved;
    }
  });
}

test('relative dates move from now as date -d moves them', () => {
  const now = new Date(NOW * 1000);
  const saved = process.env['TZ'];
  process.env['TZ'] = 'UTC';
  try {
    for (const [s, secs] of [
      ['now', 0], ['today', 0], ['yesterday', -86400], ['tomorrow', 86400], ['1 day ago', -86400], ['2 weeks ago', -14 * 86400],
      ['3 hours ago', -3 * 3600], ['90 minutes', 90 * 60], ['last week', -7 * 86400], ['1 fortnight ago', -14 * 86400],
      ['1 day 2 hours ago', 86400 - 7200],
    ] as const) {
      assert.equal(parseDateTime(s, now), BigInt(NOW + secs), s);
      // date -d agrees on the offset from its own now.
      const theirs = gnuDate(s, 'UTC');
      const base = gnuDate('now', 'UTC');
      assert.ok(theirs !== null && base !== null && Math.abs(Number(theirs - base) - secs) <= 2, `${s}: date -d moves ${theirs! - base!}`);
    }
    // Months and years move the calendar, not a fixed number of seconds.
    assert.equal(parseDateTime('2024-01-31 1 month', now), BigInt(Date.UTC(2024, 2, 2) / 1000));
    assert.equal(parseDateTime('2024-01-31 1 month'), gnuDate('2024-01-31 1 month', 'UTC'));
    assert.equal(parseDateTime('2023-03-01 1 year ago'), gnuDate('2023-03-01 1 year ago', 'UTC'));
  } finally {
    if (saved === undefined) delete process.env['TZ'];
    else process.env['TZ'] = saved;
  }
});

test('what date -d refuses is refused', () => {
  for (const s of ['not a date', '2023-13-01', '25:00', 'garbage 5']) {
    assert.equal(gnuDate(s, 'UTC'), null, `date -d refuses ${JSON.stringify(s)}`);
    assert.equal(parseDateTime(s), null, s);
  }
  // The empty string is today's midnight.
  assert.equal(parseDateTime(''), gnuDate('', process.env['TZ'] ?? 'UTC'));
});
