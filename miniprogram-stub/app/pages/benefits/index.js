// 惠工服务: the union services by category (职工医疗 … 文体活动), with what qualifies.
const api = require('../../api/index.js');
const { describe } = require('../../utils/errors.js');

Component({
  data: { loading: true, error: null, cardActive: false, categories: [], current: 0, open: '' },
  methods: {
    onLoad() {
      return this.load();
    },
    onPullDownRefresh() {
      return this.load().then(() => wx.stopPullDownRefresh());
    },
    async load() {
      this.setData({ loading: true, error: null });
      try {
        const c = await api.benefits();
        this.setData({ loading: false, cardActive: c.card_active, categories: c.categories });
      } catch (e) {
        this.setData({ loading: false, error: describe(e) });
      }
    },
    /** @param {any} e */
    pick(e) {
      this.setData({ current: Number(e.currentTarget.dataset.index) });
    },
    /** @param {any} e */
    toggle(e) {
      const id = e.currentTarget.dataset.id;
      this.setData({ open: this.data.open === id ? '' : id });
    },
    retry() {
      return this.load();
    },
  },
});
