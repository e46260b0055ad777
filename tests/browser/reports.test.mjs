// 进度通报 and 审计日志: the county admin reads the progress page (the figures the JSON report
// gives, the charts drawn on the server), then checks the audit chain from the 审计日志 page.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { launch, newPage, signIn, screenshot, api, PASSWORD } from './lib.mjs';

let browser;
before(async () => { browser = await launch(); });
after(async () => { await browser.close(); });

test('the progress page shows the figures the API gives, with both charts', async () => {
  const [, login] = await api('POST', '/api/v1/auth/password/login', null, { username: 'county', password: PASSWORD });
  const [status, report] = await api('GET', '/api/v1/admin/reports/progress', login.token);
  assert.equal(status, 200);

  const page = await newPage(browser);
  await signIn(page, 'county');
  const res = await page.goto('/console/reports/progress');
  assert.equal(res.status(), 200);
  await page.getByRole('heading', { name: /进度通报/ }).waitFor();
  const total = page.locator('#total');
  assert.equal(await total.locator('[data-k="members"]').innerText(), String(report.total.members));
  assert.equal(await total.locator('[data-k="cards"]').innerText(), String(report.total.cards_active));
  for (const row of report.rows) {
    const cells = page.locator('tbody tr', { has: page.getByRole('rowheader', { name: row.org_name, exact: true }) });
    assert.equal(await cells.locator('[data-k="members"]').innerText(), String(row.figures.members));
  }
  // Both charts are images that loaded (data: URLs, allowed by the CSP).
  for (const id of ['#rate-chart', '#trend-chart']) {
    const width = await page.locator(id).evaluate((img) => img.complete && img.naturalWidth);
    assert.ok(width > 0, id + ' did not load');
  }
  assert.equal(await page.getByLabel('月份', { exact: true }).inputValue(), report.month);
  await screenshot(page, 'progress');

  // The workbook downloads with the session cookie.
  const [download] = await Promise.all([page.waitForEvent('download'), page.locator('#download').click()]);
  assert.match(download.suggestedFilename(), /\.xlsx$/);
  await page.context().close();
});

test('the audit page lists the log and verifies the chain intact', async () => {
  const page = await newPage(browser);
  await signIn(page, 'county');
  const res = await page.goto('/console/audit');
  assert.equal(res.status(), 200);
  await page.getByRole('heading', { name: '审计日志' }).waitFor();
  assert.match(await page.locator('#count').innerText(), /共 \d+ 条记录/);
  assert.ok(await page.locator('#events tbody tr').count() > 0);
  await Promise.all([page.waitForLoadState('load'), page.getByRole('button', { name: '校验审计链' }).click()]);
  assert.match(await page.locator('#verified').innerText(), /审计链完整/);
  await screenshot(page, 'audit');
  await page.context().close();
});
