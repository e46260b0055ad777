// Turns an ApiError into what a page shows: the server's message (zh-CN), plus what to do next.

const { ApiError } = require('../api/index.js');
const { clockAfter } = require('./format.js');

/**
 * @param {any} err
 * @returns {{code: string, message: string, field: string, retryable: boolean, action: string}}
 */
function describe(err) {
  const e = err instanceof ApiError ? err : new ApiError({ code: 'server_error' });
  let message = e.message;
  if (e.code === 'too_many_attempts' || e.status === 429) {
    if (e.retryAfter) message += '（可于 ' + clockAfter(e.retryAfter) + ' 后再试）';
  }
  /** What the page offers besides the message. */
  let action = '';
  if (e.code === 'not_on_roster') action = 'apply';
  else if (e.code === 'already_member') action = 'activate';
  else if (e.code === 'no_card') action = 'activate';
  else if (e.code === 'session_expired') action = 'signin';
  else if (e.retryable) action = 'retry';
  return { code: e.code, message, field: e.field || '', retryable: e.retryable, action };
}

module.exports = { describe };
