// 商家核销 (merchant staff): password sign-in, scan the worker's code, verify, choose the
// discount, record the redemption with an Idempotency-Key kept until it succeeds; today's records.
const api = require('../../api/index.js');
const { describe } = require('../../utils/errors.js');
const { yuan, discountText, beijingDay, beijingTime } = require('../../utils/format.js');

/** Storage key of the redemption being recorded: its key survives retries and restarts. */
const PENDING_KEY = 'huigong.till.pending';

Component({
  data: {
    signedIn: false,
    username: '',
    password: '',
    busy: false,
    error: null,
    verification: null,
    discountIndex: -1,
    amount: '',
    result: null,
    today: [],
    totals: null,
    todayError: null,
  },
  methods: {
    onLoad() {
      const signedIn = !!api.getToken('staff');
      this.setData({ signedIn });
      if (signedIn) return this.loadToday();
      return undefined;
    },
    onPullDownRefresh() {
      return (this.data.signedIn ? this.loadToday() : Promise.resolve()).then(() => wx.stopPullDownRefresh());
    },
    /** @param {any} e */
    onField(e) {
      this.setData({ [e.currentTarget.dataset.field]: e.detail.value });
    },
    async signIn() {
      this.setData({ busy: true, error: null });
      try {
        await api.staffLogin(this.data.username.trim(), this.data.password);
        this.setData({ busy: false, signedIn: true, password: '' });
        await this.loadToday();
      } catch (e) {
        this.setData({ busy: false, password: '', error: describe(e) });
      }
    },
    signOut() {
      api.staffLogout();
      this.setData({ signedIn: false, verification: null, result: null, today: [] });
    },
    /** @param {any} err */
    fail(err) {
      const shown = describe(err);
      if (shown.action === 'signin') this.setData({ signedIn: false });
      this.setData({ busy: false, error: shown });
    },
    scan() {
      this.setData({ error: null, result: null });
      return new Promise((resolve) => {
        wx.scanCode({
          onlyFromCamera: true,
          scanType: ['qrCode'],
          success: (r) => resolve(this.verify(r.result)),
          fail: () => resolve(undefined),
        });
      });
    },
    /** @param {string} token */
    async verify(token) {
      this.setData({ busy: true, error: null, verification: null, discountIndex: -1 });
      try {
        const v = await api.verify(token);
        v.discounts.forEach((/** @type {any} */ d) => {
          d.text = discountText(d);
        });
        this.setData({ busy: false, verification: v, discountIndex: v.discounts.length === 1 ? 0 : -1 });
      } catch (e) {
        this.fail(e);
      }
    },
    /** @param {any} e */
    chooseDiscount(e) {
      this.setData({ discountIndex: Number(e.detail.value) });
    },
    async redeem() {
      const v = this.data.verification;
      const d = v && v.discounts[this.data.discountIndex];
      if (!d) {
        this.setData({ error: { code: 'invalid_field', message: '请选择优惠', field: 'discount_id', retryable: false, action: '' } });
        return;
      }
      const amountFen = Math.round(Number(this.data.amount || 0) * 100);
      if (!Number.isFinite(amountFen) || amountFen < 0) {
        this.setData({ error: { code: 'invalid_field', message: '消费金额须为不小于 0 的数字', field: 'amount_fen', retryable: false, action: '' } });
        return;
      }
      const body = { verification_id: v.verification_id, discount_id: d.id, amount_fen: amountFen };
      const pending = wx.getStorageSync(PENDING_KEY);
      const same =
        pending &&
        pending.verification_id === body.verification_id &&
        pending.discount_id === body.discount_id &&
        pending.amount_fen === body.amount_fen;
      const key = same ? pending.key : api.newIdempotencyKey();
      wx.setStorageSync(PENDING_KEY, Object.assign({ key }, body));
      this.setData({ busy: true, error: null });
      try {
        const res = await api.redeem(body, key);
        wx.removeStorageSync(PENDING_KEY);
        const r = res.data; // MerchantRedemptionView: the redemption's fields and verification_id
        this.setData({
          busy: false,
          verification: null,
          amount: '',
          result: { title: r.discount_title, saved: yuan(r.discount_fen), amount: yuan(r.amount_fen), replayed: res.headers && /true/i.test(String(headerOf(res.headers, 'idempotency-replayed'))) },
        });
        await this.loadToday();
      } catch (e) {
        this.fail(e);
      }
    },
    async loadToday() {
      try {
        const page = await api.todaysRedemptions(beijingDay());
        const today = page.items.map((/** @type {any} */ x) => ({
          id: x.id,
          title: x.discount_title,
          saved: yuan(x.discount_fen),
          at: beijingTime(x.created_at).slice(11),
        }));
        this.setData({ today, totals: { count: page.totals.count, saved: yuan(page.totals.discount_fen) }, todayError: null });
      } catch (e) {
        const shown = describe(e);
        if (shown.action === 'signin') this.setData({ signedIn: false });
        this.setData({ todayError: shown });
      }
    },
  },
});

/** @param {Record<string, string>} headers @param {string} name */
function headerOf(headers, name) {
  const k = Object.keys(headers).find((h) => h.toLowerCase() === name);
  return k ? headers[k] : undefined;
}
