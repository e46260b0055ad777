// 激活惠工卡: the privacy notice and consent, name + ID number → preview (masked) → confirm.
const api = require('../../api/index.js');
const { describe } = require('../../utils/errors.js');

const CONSENT_NEEDED = {
  code: 'consent_required',
  message: '请先阅读并同意《个人信息处理说明》',
  field: 'consent',
  retryable: false,
  action: '',
};

Component({
  data: { name: '', idNumber: '', consent: false, preview: null, submitting: false, error: null },
  methods: {
    /** @param {any} e */
    onName(e) {
      this.setData({ name: e.detail.value });
    },
    /** @param {any} e */
    onIdNumber(e) {
      this.setData({ idNumber: e.detail.value });
    },
    /** @param {any} e */
    onConsent(e) {
      this.setData({ consent: (e.detail.value || []).length > 0 });
    },
    async submitPreview() {
      if (!this.data.consent) return this.setData({ error: CONSENT_NEEDED });
      this.setData({ submitting: true, error: null });
      try {
        const preview = await api.previewActivation({
          name: this.data.name.trim(),
          id_number: this.data.idNumber.trim().toUpperCase(),
        });
        // The ID number is not kept on the page once the server has it.
        this.setData({ preview, idNumber: '', submitting: false });
      } catch (e) {
        this.setData({ error: describe(e), submitting: false });
      }
    },
    async confirm() {
      this.setData({ submitting: true, error: null });
      try {
        const card = await api.confirmActivation(this.data.preview.preview_id);
        this.setData({ submitting: false, card });
        wx.redirectTo({ url: '/pages/card/index' });
      } catch (e) {
        const shown = describe(e);
        // An expired preview means starting again.
        this.setData({ error: shown, submitting: false, preview: e.code === 'preview_not_found' ? null : this.data.preview });
      }
    },
    back() {
      this.setData({ preview: null, error: null });
    },
    goApply() {
      wx.navigateTo({ url: '/pages/apply/index' });
    },
  },
});
