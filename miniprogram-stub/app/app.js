// 惠工卡 mini program. Pages log in themselves (api.ensureLogin); the launch only remembers a
// union poster's scene (utils/scene.js) until a page takes it: 申请入会 chooses that union, and
// 首页, when WeChat opened it instead, sends the worker on to 申请入会.
const { sceneOf } = require('./utils/scene.js');

App({
  globalData: { scene: '' },
  /** @param {any} options */
  onLaunch(options) {
    this.rememberScene(options);
  },
  /** A poster scanned while the mini program was in the background. @param {any} options */
  onShow(options) {
    this.rememberScene(options);
  },
  /** @param {any} options */
  rememberScene(options) {
    const scene = sceneOf(options && options.query);
    if (scene) this.globalData.scene = scene;
  },
  /** The remembered scene, forgotten once taken. */
  takeScene() {
    const scene = this.globalData.scene;
    this.globalData.scene = '';
    return scene;
  },
});
