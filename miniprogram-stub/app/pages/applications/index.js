// 我的申请: the caller's applications with status and the reviewer's reason.
const api = require('../../api/index.js');
const { describe } = require('../../utils/errors.js');
const { applicationStatus, beijingTime } = require('../../utils/format.js');

Component({
  data: { loading: true, error: null, items: [] },
  methods: {
    onShow() {
      return this.load();
    },
    onPullDownRefresh() {
      return this.load().then(() => wx.stopPullDownRefresh());
    },
    async load() {
      this.setData({ loading: true, error: null });
      try {
        const list = await api.myApplications();
        const items = list.map((/** @type {any} */ a) => ({
          id: a.id,
          union: a.union_name,
          status: a.status,
          statusText: applicationStatus(a.status),
          reason: a.reason || '',
          at: beijingTime(a.created_at),
        }));
        this.setData({ loading: false, items });
      } catch (e) {
        this.setData({ loading: false, error: describe(e) });
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
