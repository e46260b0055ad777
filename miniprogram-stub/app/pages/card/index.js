// 我的惠工卡: the card, the live QR code (refreshed before it expires and when the page shows
// again), the screen kept bright while it shows, the redemption history.
const own = require('../../utils/own.js');
const api = require('../../api/index.js');
const qr = require('../../utils/qr.js');
const { describe } = require('../../utils/errors.js');
const { yuan, beijingTime } = require('../../utils/format.js');

/** Seconds before expiry at which a new code is fetched. */
const REFRESH_MARGIN = 5;
const QR_SIZE = 240;

Component({
  data: { loading: true, error: null, card: null, qrError: null, redemptions: [], historyError: null },
  methods: {
    onShow() {
      this.brighten();
      return this.load();
    },
    onHide() {
      this.leave();
    },
    onUnload() {
      this.leave();
    },
    onPullDownRefresh() {
      return this.load().then(() => wx.stopPullDownRefresh());
    },
    async load() {
      this.setData({ loading: true, error: null });
      try {
        const card = await api.card();
        this.setData({ loading: false, card });
      } catch (e) {
        this.setData({ loading: false, error: describe(e) });
        return;
      }
      await Promise.all([this.refreshQr(), this.loadHistory()]);
    },
    async refreshQr() {
      clearTimeout(own(this).timer);
      try {
        const code = await api.cardQr();
        await this.drawQr(code.token);
        this.setData({ qrError: null });
        const wait = Math.max(1, code.expires_in - REFRESH_MARGIN) * 1000;
        own(this).timer = setTimeout(() => this.refreshQr(), wait);
      } catch (e) {
        this.setData({ qrError: describe(e) });
      }
    },
    /** @param {string} token */
    drawQr(token) {
      return new Promise((resolve) => {
        wx.createSelectorQuery()
          .in(this)
          .select('#qr')
          .fields({ node: true, size: true })
          .exec((res) => {
            const canvas = res && res[0] && res[0].node;
            if (!canvas) return resolve(false);
            const dpr = wx.getWindowInfo ? wx.getWindowInfo().pixelRatio : 2;
            canvas.width = QR_SIZE * dpr;
            canvas.height = QR_SIZE * dpr;
            qr.draw(canvas.getContext('2d'), token, QR_SIZE * dpr);
            resolve(true);
          });
      });
    },
    async loadHistory() {
      try {
        const list = await api.cardRedemptions();
        const redemptions = list.items.map((/** @type {any} */ r) => ({
          id: r.id,
          merchant: r.merchant_name,
          title: r.discount_title,
          saved: yuan(r.discount_fen),
          at: beijingTime(r.created_at),
        }));
        this.setData({ redemptions, historyError: null });
      } catch (e) {
        this.setData({ historyError: describe(e) });
      }
    },
    brighten() {
      wx.getScreenBrightness({
        success: (r) => {
          if (own(this).brightness === undefined) own(this).brightness = r.value;
          wx.setScreenBrightness({ value: 1 });
        },
      });
    },
    leave() {
      clearTimeout(own(this).timer);
      own(this).timer = undefined;
      if (own(this).brightness !== undefined) {
        wx.setScreenBrightness({ value: own(this).brightness });
        own(this).brightness = undefined;
      }
    },
    retry() {
      return this.load();
    },
    goActivate() {
      wx.navigateTo({ url: '/pages/activate/index' });
    },
  },
});
