// 首页: silent WeChat login, then the card if activated, else the ways to activate or apply.
const api = require('../../api/index.js');
const { describe } = require('../../utils/errors.js');
const { sceneOf, takeLaunchScene } = require('../../utils/scene.js');

Component({
  data: { loading: true, error: null, card: null, activated: false },
  methods: {
    /** @param {Record<string, string>} [query] */
    onLoad(query) {
      // A union poster's mini-program code carries `scene` = the union's scene code: open
      // 申请入会 with it (WeChat opens 申请入会 itself; this covers a launch that landed here).
      const scene = sceneOf(query) || takeLaunchScene();
      if (scene) wx.navigateTo({ url: '/pages/apply/index?scene=' + encodeURIComponent(scene) });
      return this.load();
    },
    onPullDownRefresh() {
      return this.load().then(() => wx.stopPullDownRefresh());
    },
    async load() {
      this.setData({ loading: true, error: null });
      try {
        await api.ensureLogin();
        const card = await api.card();
        this.setData({ loading: false, card, activated: true });
      } catch (e) {
        if (e && e.code === 'no_card') this.setData({ loading: false, card: null, activated: false });
        else this.setData({ loading: false, error: describe(e) });
      }
    },
    retry() {
      return this.load();
    },
    /** @param {any} e */
    go(e) {
      wx.navigateTo({ url: e.currentTarget.dataset.url });
    },
  },
});
