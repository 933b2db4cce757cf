import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseKeyValue, parseTimestamp, parseUint } from '../../src/cli/parse.js';
import { GroveError } from '../../src/errors.js';

test('--timestamp accepts the forms ostree users pass; without a zone it is local time, as in ostree', (t) => {
  const tz = process.env['TZ'];
  t.after(() => {
    if (tz === undefined) delete process.env['TZ'];
    else process.env['TZ'] = tz;
  });
  process.env['TZ'] = 'America/New_York';
  assert.equal(parseTimestamp('2020-01-01T00:00:00Z'), 1577836800n);
  assert.equal(parseTimestamp('2020-01-01 01:00:00 +0100'), 1577836800n);
  assert.equal(parseTimestamp('@1577836800'), 1577836800n);
  // Midnight and 12:30 in New York are 05:00 and 17:30 UTC (what ostree 2022.7 records there).
  assert.equal(parseTimestamp('2020-01-01'), 1577836800n + 5n * 3600n);
  assert.equal(parseTimestamp('2020-01-01T12:30:00'), 1577836800n + 17n * 3600n + 1800n);
  assert.equal(parseTimestamp('2020-01-01 12:30'), 1577836800n + 17n * 3600n + 1800n);
  process.env['TZ'] = 'UTC';
  assert.equal(parseTimestamp('2020-01-01'), 1577836800n);
  for (const bad of ['yesterday', '2020-13-45', '', '12345', '2020-01-01T']) {
    assert.throws(() => parseTimestamp(bad), (e: GroveError) => e.code === 'GROVE_BAD_OPTION' && e.message === `Could not parse '${bad}'`, bad);
  }
});

test('integer and KEY=VALUE options name themselves in errors', () => {
  assert.equal(parseUint('--port')('1000'), 1000);
  assert.throws(() => parseUint('--port')('-1'), /--port/);
  assert.throws(() => parseUint('--port')('4294967296'), /--port/);
  assert.deepEqual(parseKeyValue('--add-metadata-string')('a=b=c', [['x', 'y']]), [['x', 'y'], ['a', 'b=c']]);
  assert.throws(() => parseKeyValue('--add-metadata-string')('novalue', undefined), /--add-metadata-string/);
});
