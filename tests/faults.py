#!/usr/bin/env python3
"""Fault tests on the topology of deploy/local.sh (run by tests/faults.sh, which starts it).

Each scenario puts a bounded load through nginx, causes one fault, and checks what the user saw
(every failure an error with a JSON code, never a 500), that nothing was lost or half-written
(row counts, `huigong audit verify`), that the outbox delivers exactly once after recovery, and
that the instances recovered without a restart (same process ids). Prints the figures as a
Markdown table (requests, answers by status and code, seconds to recover); exits 1 on the first
failed check. Python's standard library only.
"""
import collections
import json
import os
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
import uuid

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DIR = sys.argv[1]
ROSTER = sys.argv[2]
ROSTER_ROWS = int(sys.argv[3])
LOCAL = [os.path.join(REPO, "deploy", "local.sh"), "--dir", DIR]
COUNTY = "00000000-0000-7000-8000-000000000001"
TEMPLATE = "tmpl-local-apply-result"


def read_env(path):
    env = {}
    with open(path, encoding="utf-8") as f:
        for line in f:
            line = line.strip()
            if line and not line.startswith("#") and "=" in line:
                k, v = line.split("=", 1)
                env[k] = v
    return env


E = read_env(os.path.join(DIR, "local.env"))
URL, I1, I2, MOCK = E["HUIGONG_URL"], E["HUIGONG_1_URL"], E["HUIGONG_2_URL"], E["MOCK_URL"]
with open(os.path.join(DIR, "admin-password"), encoding="utf-8") as f:
    ADMIN_PASSWORD = f.read().strip()


class Failed(Exception):
    pass


def check(cond, what):
    if not cond:
        raise Failed(what)


def call(method, url, body=None, token=None, headers=None, timeout=15, data=None, ctype=None):
    """(status, parsed JSON or None); status 0 for a connection that failed."""
    h = dict(headers or {})
    if body is not None:
        data = json.dumps(body).encode()
        ctype = "application/json"
    if ctype:
        h["content-type"] = ctype
    if token:
        h["authorization"] = "Bearer " + token
    req = urllib.request.Request(url, data=data, method=method, headers=h)
    try:
        with urllib.request.urlopen(req, timeout=timeout) as res:
            raw = res.read()
            status = res.status
    except urllib.error.HTTPError as e:
        raw, status = e.read(), e.code
    except (urllib.error.URLError, ConnectionError, TimeoutError, OSError):
        return 0, None
    try:
        return status, json.loads(raw) if raw else None
    except ValueError:
        return status, None


def ok(status, body, want, what):
    check(status == want, f"{what}: {status} {body}")
    return body


def local(*args):
    subprocess.run(LOCAL + list(args), check=True, stdout=subprocess.DEVNULL)


def psql(sql):
    out = subprocess.run(
        ["psql", "-qtA", "-h", "127.0.0.1", "-p", E["PG_PORT"], "-U", "postgres", "-d", "huigong", "-c", sql],
        check=True, capture_output=True, text=True)
    return int(out.stdout.strip() or 0)


def audit_verify():
    out = subprocess.run(LOCAL + ["run", "audit", "verify"], capture_output=True, text=True)
    check(out.returncode == 0, f"audit verify failed: {out.stdout} {out.stderr}")
    return out.stdout.strip().splitlines()[-1]


def pids():
    res = {}
    for name in ("huigong-1", "huigong-2"):
        with open(os.path.join(DIR, name + ".pid"), encoding="utf-8") as f:
            res[name] = f.read().strip()
    return res


def ready(base):
    return call("GET", base + "/readyz", timeout=3)[0] == 200


def wait(pred, what, limit=60):
    start = time.monotonic()
    while time.monotonic() - start < limit:
        if pred():
            return time.monotonic()
        time.sleep(0.05)
    raise Failed(f"{what}: not within {limit} s")


def id_number(birth, seq):
    body = f"330522{birth}{seq:03d}"
    w = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2]
    s = sum(int(c) * x for c, x in zip(body, w))
    return body + "10X98765432"[s % 11]


def credit_code(body):
    """A unified social credit code (GB 32100) with its check character."""
    chars = "0123456789ABCDEFGHJKLMNPQRTUWXY"
    w = [1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28]
    c = (31 - sum(chars.index(ch) * x for ch, x in zip(body, w)) % 31) % 31
    return body + chars[c]


def fresh_credit_code():
    """A random valid code: its characters 9–17 are an organisation code (GB 11714)."""
    org = "".join(str(uuid.uuid4().int % 10 ** 8).rjust(8, "0"))
    c = 11 - sum(int(ch) * x for ch, x in zip(org, [3, 7, 9, 10, 5, 8, 4, 2])) % 11
    return credit_code("91330522" + org + {10: "X", 11: "0"}.get(c, str(c)))


def member(name, idn):
    sex = "男" if int(idn[16]) % 2 == 1 else "女"
    return {"name": name, "sex": sex, "id_number": idn, "nationality": "汉族", "education": "大专",
            "mobile": "13957212345", "household_type": "农村", "unit_name": "长兴示范企业",
            "employment_status": "在岗", "union_post": "会员"}


def login_admin():
    _, b = call("POST", URL + "/api/v1/auth/password/login",
                {"username": "admin", "password": ADMIN_PASSWORD})
    return b["token"]


def wx_login(openid, base=URL):
    _, code = call("POST", MOCK + "/wx/login", {"openid": openid})
    return call("POST", base + "/api/v1/auth/wechat/login", code)


def union(admin, name, code):
    _, d = call("POST", URL + "/api/v1/admin/orgs",
                {"parent_id": COUNTY, "level": "district", "name": name + "街道总工会"}, admin)
    s, u = call("POST", URL + "/api/v1/admin/orgs", {
        "parent_id": d["id"], "level": "grassroots", "name": name + "公司工会", "unit_name": name + "公司",
        "unit_code": code, "unit_nature": "私营经济", "unit_address": "浙江省湖州市长兴县雉城街道金陵路88号",
        "employee_count": 1000, "founded_on": "2001-05-06", "union_type": "单建", "member_count": 1000,
        "leader_name": "王主席", "phone": "0572-6022447"}, admin)
    return ok(s, u, 201, "create union")["id"]


class Load:
    """`threads` clients calling `step(i)` in a loop (with a pause) until stopped; counts answers."""

    def __init__(self, step, threads=4, pause=0.02):
        self.step, self.pause = step, pause
        self.stop_flag = threading.Event()
        self.lock = threading.Lock()
        self.answers = collections.Counter()
        self.bad = []
        self.first_ok_after = {}
        self.threads = [threading.Thread(target=self.run, args=(t,), daemon=True) for t in range(threads)]
        self.n = 0

    def record(self, status, body):
        code = body.get("code") if isinstance(body, dict) else None
        key = str(status) if status < 400 else f"{status} {code or '(no code)'}"
        with self.lock:
            self.answers[key] += 1
            # A 500, an error without a JSON code, or a connection the proxy did not answer.
            if status == 0 or status >= 500 and status != 503 or status >= 400 and not code:
                self.bad.append(f"{status} {body}")

    def run(self, t):
        while not self.stop_flag.is_set():
            with self.lock:
                self.n += 1
                i = self.n
            for status, body in self.step(t, i):
                self.record(status, body)
            time.sleep(self.pause)

    def __enter__(self):
        for t in self.threads:
            t.start()
        return self

    def __exit__(self, *exc):
        self.stop_flag.set()
        for t in self.threads:
            t.join()

    def total(self):
        return sum(self.answers.values())

    def summary(self):
        return ", ".join(f"{k}: {v}" for k, v in sorted(self.answers.items()))


RESULTS = []
# Birth years of this run's made-up people (a run against a used set-up meets no earlier one).
RUN = uuid.uuid4().int % 10


def result(name, load_total, answers, recovered, notes):
    RESULTS.append((name, load_total, answers, recovered, notes))
    print(f"-- {name}: {load_total} requests; {answers}; recovered in {recovered}; {notes}", flush=True)


def outage(name, component, admin, union_id, worker, tag):
    """A bounded mixed load (card reads by a worker, member adds by the admin) while `component`
    is stopped for two seconds and started again."""
    before_pids = pids()
    added = []
    base_members = psql(f"SELECT count(*) FROM memberships WHERE org_id = '{union_id}'")

    def step(t, i):
        s1, b1 = call("GET", URL + "/api/v1/card", token=worker)
        idn = id_number(f"19{tag}0{t + 1}01", i % 1000)
        s2, b2 = call("POST", f"{URL}/api/v1/admin/orgs/{union_id}/members", member("王五", idn), admin)
        if s2 == 201:
            added.append(idn)
        return [(s1, b1), (s2, b2)]

    with Load(step) as load:
        time.sleep(1.0)
        local("stop", component)
        down = time.monotonic()
        time.sleep(2.0)
        local("start", component)
        up = time.monotonic()
        back = wait(lambda: ready(I1) and ready(I2), f"{name}: both instances ready again")
        # The first successful write through the proxy after the service came back.
        before = len(added)
        wait(lambda: len(added) > before, f"{name}: a member added after recovery")
        recovered = time.monotonic()
        time.sleep(1.0)
    check(not load.bad, f"{name}: answers that are not clean errors: {load.bad[:5]}")
    check(pids() == before_pids, f"{name}: an instance was restarted: {before_pids} → {pids()}")
    members = psql(f"SELECT count(*) FROM memberships WHERE org_id = '{union_id}'")
    check(members == base_members + len(added),
          f"{name}: {members - base_members} memberships written, {len(added)} answered 201")
    check(len(set(added)) == len(added), f"{name}: a member was added twice")
    verified = audit_verify()
    result(name, load.total(), load.summary(),
           f"{back - up:.1f} s (readyz), {recovered - up:.1f} s (first write); down {up - down:.1f} s",
           f"{len(added)} members added, all stored; {verified}")


def busiest(before):
    """The instance that used the most CPU since `before` (its utime+stime)."""
    now = cpu()
    return max(now, key=lambda k: now[k] - before.get(k, 0))


def cpu():
    res = {}
    for name, pid in pids().items():
        try:
            with open(f"/proc/{pid}/stat", encoding="utf-8") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            res[name] = int(fields[11]) + int(fields[12])
        except OSError:
            res[name] = 0
    return res


def kill_mid_import(admin):
    union_id = union(admin, "导入故障", fresh_credit_code())
    with open(ROSTER, "rb") as f:
        workbook = f.read()
    boundary = "huigongfaults" + uuid.uuid4().hex
    data = (f"--{boundary}\r\ncontent-disposition: form-data; name=\"file\"; filename=\"roster.xlsx\"\r\n"
            "content-type: application/vnd.openxmlformats-officedocument.spreadsheetml.sheet\r\n\r\n").encode() \
        + workbook + f"\r\n--{boundary}--\r\n".encode()
    ctype = f"multipart/form-data; boundary={boundary}"
    answer = {}

    def importer():
        answer["r"] = call("POST", f"{URL}/api/v1/admin/orgs/{union_id}/roster/import?commit=true",
                           token=admin, data=data, ctype=ctype, timeout=120)

    before = cpu()
    t = threading.Thread(target=importer)
    t.start()
    time.sleep(0.4)
    victim = busiest(before)
    local("kill", victim)
    killed = time.monotonic()
    t.join()
    status, body = answer["r"]
    check(status != 200, f"the import finished before {victim} was killed: use more rows")
    check(status == 503 and body and body.get("code"), f"mid-import: the user saw {status} {body}")
    half = psql(f"SELECT count(*) FROM memberships WHERE org_id = '{union_id}'")
    check(half == 0, f"mid-import: {half} of {ROSTER_ROWS} rows were written by the killed import")
    verified = audit_verify()
    # The other instance serves at once; the killed one is started again by its supervisor.
    s, retry = call("POST", f"{URL}/api/v1/admin/orgs/{union_id}/roster/import?commit=true",
                    token=admin, data=data, ctype=ctype, timeout=120)
    check(s == 200 and retry.get("committed") and retry.get("created") == ROSTER_ROWS,
          f"re-import: {s} {str(retry)[:300]}")
    done = time.monotonic()
    local("start", victim)
    rows = psql(f"SELECT count(*) FROM memberships WHERE org_id = '{union_id}'")
    check(rows == ROSTER_ROWS, f"after the re-import {rows} memberships, want {ROSTER_ROWS}")
    result(f"{victim} killed mid-roster-import ({ROSTER_ROWS} rows)", 2,
           f"import: {status} {body.get('code')}; re-import: 200",
           f"{done - killed:.1f} s (re-import done on the other instance)",
           f"0 rows after the kill, {rows} after the re-import; {audit_verify()}; before re-import: {verified}")


def setup_cards(admin, union_id, n):
    workers = []
    for i in range(n):
        idn = id_number(f"194{RUN}0505", i * 2 + 1)
        ok(*call("POST", f"{URL}/api/v1/admin/orgs/{union_id}/members", member("张三", idn), admin), 201, "member")
        s, b = wx_login(f"faults-card-{i}-{uuid.uuid4().hex[:6]}")
        worker = ok(s, b, 200, "worker login")["token"]
        _, p = call("POST", URL + "/api/v1/card/activation/preview", {"name": "张三", "id_number": idn}, worker)
        ok(*call("POST", URL + "/api/v1/card/activation/confirm", {"preview_id": p["preview_id"]}, worker), 201,
           "activate")
        workers.append(worker)
    return workers


def kill_mid_redemption(admin, workers):
    today = time.strftime("%Y-%m-%d")
    s, m = call("POST", URL + "/api/v1/admin/merchants", {
        "name": "故障测试商家", "category": "餐饮", "address": "长兴县", "phone": "0572-6022448",
        "discounts": [{"title": "立减1元", "kind": "amount", "value": 100, "valid_from": "2026-01-01",
                       "valid_to": "2099-12-31", "daily_limit_per_card": 100}]}, admin)
    merchant = ok(s, m, 201, "merchant")
    username = "faults_till_" + uuid.uuid4().hex[:8]
    ok(*call("POST", f"{URL}/api/v1/admin/merchants/{merchant['id']}/staff",
             {"username": username, "password": ADMIN_PASSWORD}, admin), 201, "staff")
    staff = call("POST", URL + "/api/v1/auth/password/login",
                 {"username": username, "password": ADMIN_PASSWORD})[1]["token"]
    base = psql("SELECT count(*) FROM redemptions")
    done_keys = set()
    lock = threading.Lock()
    retries = collections.Counter()

    def step(t, i):
        worker = workers[i % len(workers)]
        answers = []
        # Verify a fresh QR token (a lost answer: scan again, with a new token).
        for _ in range(100):
            s, q = call("GET", URL + "/api/v1/card/qr", token=worker)
            answers.append((s, q))
            if s != 200:
                time.sleep(0.1)
                continue
            s, v = call("POST", URL + "/api/v1/merchant/verify", {"token": q["token"]}, staff)
            answers.append((s, v))
            if s == 200:
                break
            time.sleep(0.1)
        else:
            return answers + [(0, {"gave up": "verify"})]
        key = f"faults-{i}"
        discount = v["discounts"][0]["id"]
        # The till retries a redemption with the same Idempotency-Key until it has an answer.
        for _ in range(100):
            s, r = call("POST", URL + "/api/v1/merchant/redemptions",
                        {"verification_id": v["verification_id"], "discount_id": discount, "amount_fen": 5000},
                        staff, headers={"Idempotency-Key": key})
            answers.append((s, r))
            if s == 201:
                with lock:
                    done_keys.add(key)
                break
            with lock:
                retries[s] += 1
            time.sleep(0.1)
        else:
            answers.append((0, {"gave up": "redeem"}))
        return answers

    before_pids = pids()
    with Load(step, threads=4, pause=0.0) as load:
        time.sleep(1.5)
        local("kill", "huigong-2")
        killed = time.monotonic()
        n = len(done_keys)
        wait(lambda: len(done_keys) > n + 5, "redemptions go on on the other instance")
        recovered = time.monotonic()
        time.sleep(1.0)
    local("start", "huigong-2")
    check(pids()["huigong-1"] == before_pids["huigong-1"], "huigong-1 was restarted")
    check(not load.bad, f"mid-redemption: answers that are not clean errors: {load.bad[:5]}")
    stored = psql("SELECT count(*) FROM redemptions") - base
    check(stored == len(done_keys), f"mid-redemption: {stored} redemptions stored, {len(done_keys)} recorded")
    result("huigong-2 killed mid-redemption (verify + redeem pairs)", load.total(), load.summary(),
           f"{recovered - killed:.1f} s (5 more redemptions on huigong-1)",
           f"{len(done_keys)} redemptions, {stored} stored (retries with the same Idempotency-Key: "
           f"{sum(retries.values())}); {audit_verify()}")


def wechat_faults(admin, union_id):
    before_pids = pids()
    rows = []
    # The client retries -1 once by itself (huigong-wechat): six -1 answers fail three logins.
    for errcode, label, times in ((-1, "-1 (system busy)", 6), (45011, "45011 (rate limit)", 3)):
        call("POST", MOCK + "/mock/errors", {"api": "jscode2session", "errcode": errcode, "times": times})
        seen = collections.Counter()
        for _ in range(3):
            s, b = wx_login("faults-wx-" + uuid.uuid4().hex[:8])
            check(s in (429, 503) and b and b.get("code"), f"login under {label}: {s} {b}")
            seen[f"{s} {b['code']}"] += 1
        start = time.monotonic()
        s, b = wx_login("faults-wx-" + uuid.uuid4().hex[:8])
        check(s == 200, f"login after {label}: {s} {b}")
        rows.append((f"WeChat code2session answers {label}", 4, ", ".join(f"{k}: {v}" for k, v in seen.items())
                     + ", then 200: 1", f"{time.monotonic() - start:.1f} s (next login)"))
    call("POST", MOCK + "/mock/delay", {"api": "jscode2session", "ms": 3000, "times": 2})
    seen = collections.Counter()
    for _ in range(2):
        s, b = wx_login("faults-wx-" + uuid.uuid4().hex[:8])
        check(s in (502, 503, 504) and b and b.get("code"), f"login with WeChat timing out: {s} {b}")
        seen[f"{s} {b['code']}"] += 1
    start = time.monotonic()
    s, b = wx_login("faults-wx-" + uuid.uuid4().hex[:8])
    check(s == 200, f"login after the timeouts: {s} {b}")
    rows.append(("WeChat code2session times out (3 s > wechat.timeout_ms 2 s)", 3,
                 ", ".join(f"{k}: {v}" for k, v in seen.items()) + ", then 200: 1",
                 f"{time.monotonic() - start:.1f} s (next login)"))
    for name, total, answers, rec in rows:
        result(name, total, answers, rec, "no instance restarted")

    # The outbox: an approval's subscribe message while WeChat answers -1, 45011, -1.
    openid = "faults-outbox-" + uuid.uuid4().hex[:8]
    s, b = wx_login(openid)
    worker = ok(s, b, 200, "applicant login")["token"]
    call("POST", MOCK + "/mock/subscribe/accept", {"openid": openid, "template_id": TEMPLATE})
    idn = id_number(f"195{RUN}0303", 7)
    application = {"union_id": union_id, "name": "赵小明", "sex": "男", "id_number": idn, "nationality": "汉族",
                   "education": "高中", "mobile": "13957200009", "household_type": "农村", "unit_name": "甲公司",
                   "employment_status": "在岗", "union_post": "无", "agree_declaration": True,
                   "consent_sensitive": True, "signature_name": "赵小明"}
    created = ok(*call("POST", URL + "/api/v1/applications", application, worker), 201, "application")
    for errcode in (-1, 45011, -1):
        call("POST", MOCK + "/mock/errors", {"api": "subscribe_send", "errcode": errcode, "times": 1})
    _, stats0 = call("GET", MOCK + "/mock/stats")
    ok(*call("POST", f"{URL}/api/v1/admin/applications/{created['id']}/approve", {}, admin), 200, "approve")
    approved = time.monotonic()

    def delivered():
        _, m = call("GET", MOCK + "/mock/subscribe/messages")
        return [x for x in m["messages"] if x.get("touser") == openid]

    wait(lambda: len(delivered()) >= 1, "the approval's message is delivered after WeChat recovers", limit=90)
    took = time.monotonic() - approved
    # Long enough for any duplicate: the retry period doubles from notify.retry_base_ms (1 s).
    time.sleep(5)
    got = delivered()
    _, stats1 = call("GET", MOCK + "/mock/stats")
    sends = stats1["subscribe_send"] - stats0["subscribe_send"]
    check(len(got) == 1, f"outbox: {len(got)} messages delivered for one approval")
    check(sends == 4, f"outbox: {sends} send attempts, want 3 refused + 1 delivered")
    check(pids() == before_pids, "an instance was restarted during the WeChat faults")
    result("WeChat subscribe/send answers -1, 45011, -1 (outbox)", sends, "3 refused, then delivered",
           f"{took:.1f} s (approval to delivery)", f"delivered exactly once; {audit_verify()}")


def main():
    admin = login_admin()
    union_id = union(admin, "故障演练", fresh_credit_code())
    workers = setup_cards(admin, union_id, 8)
    only = os.environ.get("FAULTS_ONLY", "postgres,redis,import,redemption,wechat").split(",")
    if "postgres" in only:
        outage("PostgreSQL stopped for 2 s and started", "postgres", admin, union_id, workers[0], 60 + RUN)
    if "redis" in only:
        # Sessions outlive the restart (AOF): the same tokens go on working.
        outage("Redis stopped for 2 s and started", "redis", admin, union_id, workers[1], 70 + RUN)
    if "import" in only:
        kill_mid_import(admin)
    if "redemption" in only:
        kill_mid_redemption(admin, workers)
    if "wechat" in only:
        wechat_faults(admin, union_id)
    print()
    print("| fault | requests | answers (status code: count) | recovered | checks |")
    print("|---|---|---|---|---|")
    for name, total, answers, rec, notes in RESULTS:
        print(f"| {name} | {total} | {answers} | {rec} | {notes} |")


if __name__ == "__main__":
    try:
        main()
    except Failed as e:
        print(f"FAULT TEST FAILED: {e}", file=sys.stderr)
        sys.exit(1)
