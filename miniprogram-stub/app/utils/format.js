// Display helpers shared by the pages.

/** @param {number} fen */
function yuan(fen) {
  return (fen / 100).toFixed(2);
}

/** What a discount gives, in words. @param {{kind: string, value?: number|null}} d */
function discountText(d) {
  if (d.kind === 'percent' && d.value) {
    const rest = 100 - d.value;
    return (rest / 10).toString() + ' 折';
  }
  if (d.kind === 'amount' && d.value) return '立减 ' + yuan(d.value) + ' 元';
  return '赠品/服务';
}

/** Beijing date of `date` as YYYY-MM-DD. @param {Date} [date] */
function beijingDay(date) {
  const d = new Date((date || new Date()).getTime() + 8 * 3600 * 1000);
  return d.toISOString().slice(0, 10);
}

/** "YYYY-MM-DD HH:mm" in Beijing time. @param {string} iso */
function beijingTime(iso) {
  const d = new Date(new Date(iso).getTime() + 8 * 3600 * 1000);
  return d.toISOString().slice(0, 16).replace('T', ' ');
}

/** Beijing clock time `seconds` from now, "HH:mm" (or "明天 HH:mm"). @param {number} seconds */
function clockAfter(seconds, now) {
  const at = new Date((now || Date.now()) + seconds * 1000);
  const today = beijingDay(new Date(now || Date.now()));
  const hhmm = beijingTime(at.toISOString()).slice(11);
  return beijingDay(at) === today ? hhmm : '明天 ' + hhmm;
}

const STATUS = { pending: '审核中', approved: '已通过', rejected: '未通过' };

/** @param {string} s */
function applicationStatus(s) {
  return /** @type {Record<string, string>} */ (STATUS)[s] || s;
}

module.exports = { yuan, discountText, beijingDay, beijingTime, clockAfter, applicationStatus };
