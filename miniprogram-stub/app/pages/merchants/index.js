// 特约商家: partner merchants with today's discounts, by category, searchable, paged.
const api = require('../../api/index.js');
const { describe } = require('../../utils/errors.js');
const { discountText } = require('../../utils/format.js');

Component({
  data: { loading: true, error: null, items: [], categories: ['全部'], current: 0, q: '', page: 1, total: 0, open: '' },
  methods: {
    onLoad() {
      return this.load(1);
    },
    onPullDownRefresh() {
      return this.load(1).then(() => wx.stopPullDownRefresh());
    },
    onReachBottom() {
      if (this.data.items.length < this.data.total) return this.load(this.data.page + 1);
      return undefined;
    },
    /** @param {number} page */
    async load(page) {
      this.setData({ loading: true, error: null });
      const category = this.data.current > 0 ? this.data.categories[this.data.current] : undefined;
      try {
        const res = await api.merchants({ category, q: this.data.q, page });
        const shown = res.items.map((/** @type {any} */ m) =>
          Object.assign({}, m, {
            discounts: m.discounts.map((/** @type {any} */ d) => Object.assign({}, d, { text: discountText(d) })),
          }),
        );
        const items = page === 1 ? shown : this.data.items.concat(shown);
        const categories = this.data.categories.slice();
        shown.forEach((/** @type {any} */ m) => {
          if (categories.indexOf(m.category) < 0) categories.push(m.category);
        });
        this.setData({ loading: false, items, categories, page, total: res.total });
      } catch (e) {
        this.setData({ loading: false, error: describe(e) });
      }
    },
    /** @param {any} e */
    pick(e) {
      this.setData({ current: Number(e.currentTarget.dataset.index) });
      return this.load(1);
    },
    /** @param {any} e */
    onQuery(e) {
      this.setData({ q: e.detail.value });
    },
    search() {
      return this.load(1);
    },
    /** @param {any} e */
    toggle(e) {
      const id = e.currentTarget.dataset.id;
      this.setData({ open: this.data.open === id ? '' : id });
    },
    retry() {
      return this.load(1);
    },
  },
});
