/**
 * Dates as `ostree prune --keep-younger-than` reads them: ostree hands the string to gnulib's
 * parse_datetime, the parser behind `date -d`. This is the part of that language scripts use:
 *
 * - `@SECONDS` (fractions allowed);
 * - a date `YYYY-MM-DD` or `MM/DD/YYYY`, a time `HH:MM[:SS[.frac]]` with optional `am`/`pm`,
 *   `T` or space between them, and a zone after the time: `Z`, `UTC`, `GMT`, `UT`, `+HH`,
 *   `+HHMM`, `+HH:MM`;
 * - relative items: `[+-]N UNIT [ago]` (UNIT one of year, month, fortnight, week, day, hour,
 *   minute/min, second/sec, singular or plural), `last`/`this`/`next UNIT`, and `now`, `today`,
 *   `yesterday`, `tomorrow`.
 *
 * As in gnulib: without a date, today is meant; a date without a time means its midnight (and so
 * does the empty string), relative items alone move from the present instant; times
 * without a zone are local (TZ); relative years, months and days move the calendar date, the
 * rest move the instant. Returns seconds since the epoch, or null for anything else (ostree's
 * "Could not parse").
 */
export function parseDateTime(input: string, now: Date = new Date()): bigint | null {
  const s = input.trim().toLowerCase();
  const at = /^@([+-]?\d+)(?:[.,]\d+)?$/.exec(s);
  if (at) return BigInt(at[1]!);

  let date: { y: number; m: number; d: number } | null = null;
  let time: { h: number; min: number; sec: number } | null = null;
  let zone: number | null = null; // minutes east of UTC
  const rel = { y: 0, m: 0, d: 0, h: 0, min: 0, sec: 0 };
  let relSeen = false;
  let rest = s;
  const take = (re: RegExp): RegExpExecArray | null => {
    const m = re.exec(rest);
    if (m) rest = rest.slice(m[0].length).trimStart();
    return m;
  };

  while (rest.length > 0) {
    let m: RegExpExecArray | null;
    if (date === null && (m = take(/^(\d{4})-(\d{1,2})-(\d{1,2})(?:t(?=\d)|\b)/))) {
      date = { y: Number(m[1]), m: Number(m[2]), d: Number(m[3]) };
    } else if (date === null && (m = take(/^(\d{1,2})\/(\d{1,2})\/(\d{2,4})\b/))) {
      let y = Number(m[3]);
      if (m[3]!.length === 2) y += y < 69 ? 2000 : 1900;
      date = { y, m: Number(m[1]), d: Number(m[2]) };
    } else if (time === null && (m = take(/^(\d{1,2}):(\d{2})(?::(\d{2})(?:[.,]\d+)?)?(?:\s*([ap])\.?m\.?\b)?/))) {
      let h = Number(m[1]);
      if (m[4] !== undefined) {
        if (h < 1 || h > 12) return null;
        h = (h % 12) + (m[4] === 'p' ? 12 : 0);
      }
      time = { h, min: Number(m[2]), sec: m[3] === undefined ? 0 : Number(m[3]) };
      if ((m = take(/^(?:z|utc|gmt|ut)\b|^z/))) zone = 0;
      else if ((m = take(/^([+-])(\d{2}):?(\d{2})?\b/))) zone = (m[1] === '-' ? -1 : 1) * (Number(m[2]) * 60 + Number(m[3] ?? 0));
    } else if (zone === null && (m = take(/^(?:utc|gmt|ut|z)\b/))) {
      zone = 0;
    } else if ((m = take(/^(now|today|yesterday|tomorrow)\b/))) {
      relSeen = true;
      rel.d += m[1] === 'yesterday' ? -1 : m[1] === 'tomorrow' ? 1 : 0;
    } else if ((m = take(/^(?:([+-]?\d+)|(last|this|next))?\s*(years?|months?|fortnights?|weeks?|days?|hours?|minutes?|mins?|seconds?|secs?)\b/))) {
      relSeen = true;
      let n = m[1] !== undefined ? Number(m[1]) : m[2] === 'last' ? -1 : m[2] === 'this' ? 0 : 1;
      if (take(/^ago\b/)) n = -n;
      const unit = m[3]!.replace(/s$/, '');
      if (unit === 'year') rel.y += n;
      else if (unit === 'month') rel.m += n;
      else if (unit === 'fortnight') rel.d += 14 * n;
      else if (unit === 'week') rel.d += 7 * n;
      else if (unit === 'day') rel.d += n;
      else if (unit === 'hour') rel.h += n;
      else if (unit === 'minute' || unit === 'min') rel.min += n;
      else rel.sec += n;
    } else {
      return null;
    }
  }

  if (date !== null && (date.m < 1 || date.m > 12 || date.d < 1 || date.d > 31)) return null;
  if (time !== null && (time.h > 23 || time.min > 59 || time.sec > 60)) return null;
  // The calendar fields, as gnulib fills its struct tm before mktime normalises it.
  let fields: [number, number, number, number, number, number];
  if (date === null && time === null) {
    // Relative items alone move from the present instant; nothing at all means today's midnight.
    fields = relSeen
      ? [now.getFullYear(), now.getMonth(), now.getDate(), now.getHours(), now.getMinutes(), now.getSeconds()]
      : [now.getFullYear(), now.getMonth(), now.getDate(), 0, 0, 0];
  } else {
    const y = date?.y ?? now.getFullYear();
    const mo = date ? date.m - 1 : now.getMonth();
    const d = date?.d ?? now.getDate();
    fields = [y, mo, d, time?.h ?? 0, time?.min ?? 0, time?.sec ?? 0];
  }
  fields[0] += rel.y;
  fields[1] += rel.m;
  fields[2] += rel.d;
  const [y, mo, d, h, mi, sec] = fields;
  const ms = zone === null ? new Date(y, mo, d, h, mi, sec).getTime() : Date.UTC(y, mo, d, h, mi, sec) - zone * 60_000;
  if (Number.isNaN(ms)) return null;
  const secs = Math.floor(ms / 1000) + rel.h * 3600 + rel.min * 60 + rel.sec;
  return BigInt(secs);
}
