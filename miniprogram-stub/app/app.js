// 惠工卡 mini program. Pages log in themselves (api.ensureLogin); the launch only remembers a
// union poster's scene so 首页 can open 申请入会 with that union.
App({
  globalData: { scene: '' },
  /** @param {any} options */
  onLaunch(options) {
    const scene = options && options.query && options.query.scene;
    if (scene) this.globalData.scene = decodeURIComponent(scene);
  },
});
