// Seeds a spawned `huigong` (embedded backend) through its JSON API for the browser tests and
// writes what it made to $HUIGONG_BROWSER_WORLD. The county admin `county` exists already
// (created by run.sh with `huigong admin create`).
import { writeFileSync } from 'node:fs';

const BASE = process.env.HUIGONG_BROWSER_BASE;
const PASSWORD = process.env.HUIGONG_BROWSER_PASSWORD;

async function call(method, p, token, body, expect) {
  const headers = { 'content-type': 'application/json' };
  if (token) headers.authorization = 'Bearer ' + token;
  const res = await fetch(BASE + p, { method, headers, body: body ? JSON.stringify(body) : undefined });
  const json = await res.json().catch(() => null);
  if (res.status !== expect) {
    throw new Error(`${method} ${p}: ${res.status} ${JSON.stringify(json)}`);
  }
  return json;
}

/** A valid ID number of region 330522 (GB 11643 check digit). */
function idNumber(birth, seq) {
  const body = '330522' + birth + String(seq).padStart(3, '0');
  const w = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2];
  const sum = [...body].reduce((s, d, i) => s + Number(d) * w[i], 0);
  return body + '10X98765432'[sum % 11];
}

function beijingDate(offsetDays) {
  const d = new Date(Date.now() + 8 * 3600e3 + offsetDays * 86400e3);
  return d.toISOString().slice(0, 10);
}

function grassroots(parent, name, code) {
  return {
    parent_id: parent, level: 'grassroots', name,
    unit_name: name + '所在单位', unit_code: code, unit_nature: '私营经济',
    unit_address: '浙江省湖州市长兴县雉城街道金陵路88号', employee_count: 120,
    founded_on: '2001-05-06', union_type: '单建', member_count: 80,
    leader_name: '王主席', phone: '0572-6022447',
  };
}

const county = (await call('POST', '/api/v1/auth/password/login', null,
  { username: 'county', password: PASSWORD }, 200)).token;
// The county federation made by the first migration (huigong_store::migration::COUNTY_ORG_ID).
const root = '00000000-0000-7000-8000-000000000001';
const district = async (name) => (await call('POST', '/api/v1/admin/orgs', county,
  { parent_id: root, level: 'district', name }, 201)).id;
const districtA = await district('雉城街道总工会');
const districtB = await district('煤山镇总工会');
const unionA = (await call('POST', '/api/v1/admin/orgs', county,
  grassroots(districtA, '甲公司工会', '91350100M000100Y43'), 201)).id;
const unionB = (await call('POST', '/api/v1/admin/orgs', county,
  grassroots(districtB, '乙公司工会', '9135052155323005XL'), 201)).id;
for (const [username, role, org] of [['district_a', 'district_admin', districtA],
  ['union_a', 'grassroots_admin', unionA]]) {
  await call('POST', '/api/v1/admin/users', county, { username, password: PASSWORD, role, org_id: org }, 201);
}

const merchant = await call('POST', '/api/v1/admin/merchants', county, {
  name: '惠民餐厅', category: '餐饮', address: '浙江省湖州市长兴县雉城街道人民路1号', phone: '0572-6022448',
  discounts: [
    { title: '会员九折', kind: 'percent', value: 10, valid_from: beijingDate(-30), valid_to: beijingDate(30), daily_limit_per_card: 2 },
    { title: '立减5元', kind: 'amount', value: 500, valid_from: beijingDate(-30), valid_to: beijingDate(30), daily_limit_per_card: 5 },
  ],
}, 201);
await call('POST', `/api/v1/admin/merchants/${merchant.id}/staff`, county, { username: 'till_a', password: PASSWORD }, 201);

// A member of 甲公司工会 with an active card, and its WeChat login.
const id = idNumber('19900101', 1);
await call('POST', `/api/v1/admin/orgs/${unionA}/members`, county, {
  name: '张三丰', sex: '男', id_number: id, nationality: '汉族', education: '大专',
  mobile: '13957212345', household_type: '农村', unit_name: '长兴示范企业',
  employment_status: '在岗', union_post: '会员',
}, 201);
const code = (await call('POST', '/wechat-mock/wx/login', null, { openid: 'browser-worker' }, 200)).code;
const worker = (await call('POST', '/api/v1/auth/wechat/login', null, { code }, 200)).token;
const preview = await call('POST', '/api/v1/card/activation/preview', worker, { name: '张三丰', id_number: id }, 200);
await call('POST', '/api/v1/card/activation/confirm', worker, { preview_id: preview.preview_id }, 201);

writeFileSync(process.env.HUIGONG_BROWSER_WORLD, JSON.stringify({
  base: BASE, password: PASSWORD, districtA, districtB, unionA, unionB,
  merchant: merchant.id, worker,
}, null, 2));
console.log('seeded: two districts, two unions, district_a, union_a, till_a, one card holder');
