import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseKeyValue, parseTimestamp, parseUint } from '../../src/cli/parse.js';
import { GroveError } from '../../src/errors.js';

test('--timestamp accepts the forms ostree users pass', () => {
  assert.equal(parseTimestamp('2020-01-01T00:00:00Z'), 1577836800n);
  assert.equal(parseTimestamp('2020-01-01'), 1577836800n);
  assert.equal(parseTimestamp('2020-01-01 01:00:00 +0100'), 1577836800n);
  assert.equal(parseTimestamp('2020-01-01T00:00:00'), 1577836800n);
  assert.equal(parseTimestamp('@1577836800'), 1577836800n);
  for (const bad of ['yesterday', '2020-13-45', '', '12345']) {
    assert.throws(() => parseTimestamp(bad), (e: GroveError) => e.code === 'GROVE_BAD_OPTION' && e.message.includes('--timestamp'), bad);
  }
});

test('integer and KEY=VALUE options name themselves in errors', () => {
  assert.equal(parseUint('--owner-uid')('1000'), 1000);
  assert.throws(() => parseUint('--owner-uid')('-1'), /--owner-uid/);
  assert.throws(() => parseUint('--owner-uid')('4294967296'), /--owner-uid/);
  assert.deepEqual(parseKeyValue('--add-metadata-string')('a=b=c', [['x', 'y']]), [['x', 'y'], ['a', 'b=c']]);
  assert.throws(() => parseKeyValue('--add-metadata-string')('novalue', undefined), /--add-metadata-string/);
});
