// Settings a county changes before uploading (see docs/miniprogram.md). No secrets here: the
// AppSecret stays on the server.

/** API base URL per mini-program environment (wx.getAccountInfoSync().miniProgram.envVersion). */
const baseUrls = {
  // WeChat DevTools against `cargo run` on the same machine (tick 「不校验合法域名」).
  develop: 'http://127.0.0.1:8080',
  // 体验版 and 正式版: the county's HTTPS domain, listed under 「request 合法域名」.
  trial: 'https://huigong.example.gov.cn',
  release: 'https://huigong.example.gov.cn',
};

/**
 * Subscribe-message template of application results: the same id as the server's
 * `wechat.apply_result_template_id`.
 */
const applyResultTemplateId = 'tmpl-dev-apply-result';

/** Milliseconds before a request is given up (then a retry button is shown). */
const requestTimeoutMs = 10000;

/**
 * Develop builds only: get login codes from the local service's WeChat mock
 * (`POST /wechat-mock/wx/login`) instead of `wx.login`, whose real codes a service in mock mode
 * cannot exchange. Never used in trial or release builds.
 */
const developMockLogin = false;

module.exports = { baseUrls, applyResultTemplateId, requestTimeoutMs, developMockLogin };
