import assert from 'node:assert/strict';

/**
 * stderr of a failed grove run against ostree's. Where ostree prints the verb's usage before the
 * error, grove prints its own: the same usage line, grove's descriptions and option list (the
 * README's matrix says how they differ), then the error line where ostree has it. So there the
 * usage line, the blank lines before the error and the error line are compared, not the text
 * between; anything else must be equal as it stands. grove must run under the name `ostree`
 * (helpers' groveAsOstree) for the usage lines to compare.
 */
export function assertSameStderr(g: string, o: string, what: string): void {
  if (!o.startsWith('Usage:\n')) {
    assert.equal(g, o, `${what}: stderr`);
    return;
  }
  const firstLines = (s: string) => s.split('\n').slice(0, 2).join('\n');
  // The error and what precedes it: `\n\nerror: …\n` after ot_util_usage_error, one blank line less elsewhere.
  const tail = (s: string) => /\n*error: [^\n]*\n$/.exec(s)?.[0];
  assert.equal(firstLines(g), firstLines(o), `${what}: the usage line`);
  assert.ok(tail(o) !== undefined, `${what}: ostree ends with an error line`);
  assert.equal(tail(g), tail(o), `${what}: the error line and the blank lines before it`);
  assert.equal(g.match(/^error: /gm)?.length, 1, `${what}: one error line, the last`);
}
