// 手机号: WeChat's getPhoneNumber button → POST /api/v1/me/phone; the number comes back masked.
const api = require('../../api/index.js');
const { describe } = require('../../utils/errors.js');

Component({
  data: { mobile: '', submitting: false, error: null },
  methods: {
    /** @param {any} e the button's getphonenumber event */
    async onGetPhoneNumber(e) {
      const code = e.detail && e.detail.code;
      if (!code) {
        // The user declined, or the base library is too old.
        this.setData({ error: { code: 'phone_denied', message: '未获得手机号授权，可稍后再试', field: '', retryable: false, action: '' } });
        return;
      }
      this.setData({ submitting: true, error: null });
      try {
        const phone = await api.confirmPhone(code);
        this.setData({ submitting: false, mobile: phone.mobile });
      } catch (err) {
        this.setData({ submitting: false, error: describe(err) });
      }
    },
  },
});
