// Scope: a district admin gets the 404 page for another district's union.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { launch, newPage, signIn, screenshot, world } from './lib.mjs';

let browser;
before(async () => { browser = await launch(); });
after(async () => { await browser.close(); });

test('a district admin gets the 404 page for another district\'s org', async () => {
  const page = await newPage(browser);
  await signIn(page, 'district_a');
  const own = await page.goto('/console/orgs/' + world.unionA);
  assert.equal(own.status(), 200);
  await page.getByRole('heading', { name: '甲公司工会' }).waitFor();

  const missing = await page.goto('/console/orgs/01900000-0000-7000-8000-000000000000');
  assert.equal(missing.status(), 404);
  const missingPage = await missing.text();

  const other = await page.goto('/console/orgs/' + world.unionB);
  assert.equal(other.status(), 404);
  // The same page as for an org that does not exist: nothing tells it is there.
  assert.equal(await other.text(), missingPage);
  await page.getByRole('heading', { name: '页面不存在' }).waitFor();
  assert.doesNotMatch(await page.content(), /乙公司工会/);
  await screenshot(page, 'not-found');
  await page.context().close();
});
