// 入会申请, 花名册导入 and the exports in Chromium: approve an application; upload a roster with
// errors, read the report, fix, commit; download 附件3 and open it. Seeds its own data through
// the JSON API (the county admin and district_a from seed.mjs). Screenshots: applications,
// application, members, roster-report, roster-committed.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { launch, newPage, signIn, screenshot, world, api, PASSWORD } from './lib.mjs';
import { workbook, unzip, idNumber } from './xlsx.mjs';

let browser;
let county;
before(async () => {
  browser = await launch();
  const [status, out] = await api('POST', '/api/v1/auth/password/login', null,
    { username: 'county', password: PASSWORD });
  assert.equal(status, 200, JSON.stringify(out));
  county = out.token;
});
after(async () => { await browser.close(); });

test('a district admin approves a pending application from the queue', async () => {
  const [, login] = await api('POST', '/wechat-mock/wx/login', null, { openid: 'browser-applicant' });
  const [, session] = await api('POST', '/api/v1/auth/wechat/login', null, { code: login.code });
  const [status, applied] = await api('POST', '/api/v1/applications', session.token, {
    union_id: world.unionA, name: '李小红', sex: '女', id_number: idNumber('19950505', 22),
    nationality: '汉族', education: '本科', mobile: '13957200022', household_type: '城镇',
    unit_name: '甲公司', employment_status: '在岗', union_post: '无',
    agree_declaration: true, consent_sensitive: true, signature_name: '李小红',
  });
  assert.equal(status, 201, JSON.stringify(applied));

  const page = await newPage(browser);
  await signIn(page, 'district_a');
  await page.goto('/console/applications');
  const row = page.locator('#queue tr', { has: page.locator(`a[href="/console/applications/${applied.id}"]`) });
  await row.waitFor();
  await screenshot(page, 'applications');
  await Promise.all([page.waitForURL('**/console/applications/' + applied.id), row.getByRole('link', { name: '查看' }).click()]);
  await page.getByText('未发现冲突').waitFor();
  assert.doesNotMatch(await page.content(), /李小红/, 'masked by default');
  await screenshot(page, 'application');
  await Promise.all([page.waitForLoadState('load'), page.getByRole('button', { name: '批准入会' }).click()]);
  await page.locator('#status', { hasText: '已批准' }).waitFor();

  const [, approved] = await api('GET', '/api/v1/admin/applications?status=approved', county);
  const made = approved.items.find((a) => a.id === applied.id);
  assert.ok(made && made.member_id, JSON.stringify(approved));
  await page.goto('/console/members?org=' + world.unionA + '&name=' + encodeURIComponent('小红'));
  await page.locator(`#results a[href="/console/members/${made.member_id}"]`).waitFor();
  await screenshot(page, 'members');
  await page.context().close();
});

const HEADER = ['序号', '姓名', '身份证号码', '性别', '国籍', '学历', '手机号码', '户籍类型', '所属单位', '就业状况', '担任工会职务'];
const person = (n, name, id, sex) => [String(n), name, id, sex, '汉族', '大专', '13957200001', '农村', '甲公司', '在岗', '会员'];

test('a clerk uploads a roster with errors, reads the report, fixes it and commits', async () => {
  const page = await newPage(browser);
  await signIn(page, 'district_a');
  await page.goto('/console/roster');
  await Promise.all([page.waitForURL('**/console/roster/' + world.unionA), page.getByRole('link', { name: '甲公司工会' }).click()]);
  await page.getByText('全部成功才写入').waitFor();

  const good = idNumber('19880808', 31);
  const bad = workbook([['长兴县基层工会会员花名册'], HEADER,
    person(1, '陈一', good, '男'), person(2, '陈二', '330522198808080320', '女')]);
  await page.getByLabel(/花名册文件/).setInputFiles({ name: '花名册.xlsx', mimeType: 'application/vnd.openxmlformats-officedocument.spreadsheetml.sheet', buffer: bad });
  await page.getByRole('button', { name: '上传并预检' }).click();
  const problems = page.locator('#problems');
  await problems.waitFor();
  // Row 4 of the sheet (title, header, two people), the ID number column.
  const line = problems.locator('tr', { hasText: '身份证号码' }).first();
  assert.equal(await line.locator('td').first().textContent(), '4');
  assert.equal(await page.locator('#commit').count(), 0, 'no commit with errors');
  await screenshot(page, 'roster-report');

  const fixed = workbook([['长兴县基层工会会员花名册'], HEADER,
    person(1, '陈一', good, '男'), person(2, '陈二', idNumber('19880808', 32), '女')]);
  await page.getByLabel(/花名册文件/).setInputFiles({ name: '花名册.xlsx', mimeType: 'application/vnd.openxmlformats-officedocument.spreadsheetml.sheet', buffer: fixed });
  await page.getByRole('button', { name: '上传并预检' }).click();
  await page.getByText('预检通过').waitFor();
  await page.getByRole('button', { name: /确认导入 2 行/ }).click();
  await page.locator('#job-done').waitFor();
  assert.match(await page.locator('#job-done').textContent(), /新登记 2 人/);
  await screenshot(page, 'roster-committed');

  const [, members] = await api('POST', '/api/v1/admin/members/search', county, { id_number: good });
  assert.equal(members.length, 1, JSON.stringify(members));
  await page.context().close();
});

test('a clerk downloads the masked 附件3 and it opens as a workbook with the roster header', async () => {
  const page = await newPage(browser);
  await signIn(page, 'district_a');
  await page.goto('/console/roster/' + world.unionA);
  const [download] = await Promise.all([
    page.waitForEvent('download'),
    page.locator('#export-roster').click(),
  ]);
  const bytes = readFileSync(await download.path());
  const entries = unzip(bytes);
  assert.ok(entries['xl/workbook.xml'], 'a workbook: ' + Object.keys(entries).join(', '));
  assert.ok(Object.keys(entries).some((n) => /^xl\/worksheets\/sheet\d+\.xml$/.test(n)), 'with a sheet');
  const text = Object.entries(entries)
    .filter(([n]) => n.startsWith('xl/'))
    .map(([, b]) => b.toString('utf8')).join('\n');
  for (const h of ['姓名', '身份证号码', '手机号码']) assert.ok(text.includes(h), 'header ' + h);
  assert.ok(text.includes('张*'), 'masked names');
  assert.ok(!text.includes('张三丰'), 'never the full name in a masked export');
  await page.context().close();
});
