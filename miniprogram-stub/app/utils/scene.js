// A union poster's mini-program code opens 申请入会 with `scene` = the union's scene code (a
// short random code, resolved by GET /api/v1/unions/scene/{code}). WeChat passes it URL-encoded
// in `query.scene`, to App.onLaunch/onShow and to the page's onLoad.

/**
 * The scene of a launch or page query, decoded; '' when there is none or it is malformed.
 * @param {Record<string, any> | undefined | null} query
 */
function sceneOf(query) {
  const raw = query && typeof query.scene === 'string' ? query.scene : '';
  if (!raw) return '';
  let scene = '';
  try {
    scene = decodeURIComponent(raw).trim();
  } catch (_) {
    return '';
  }
  return /^[0-9A-Za-z]{1,32}$/.test(scene) ? scene : '';
}

/** The app's pending scene (from the launch), taken once; '' outside WeChat or when none. */
function takeLaunchScene() {
  const app = typeof getApp === 'function' ? getApp() : null;
  return app && typeof app.takeScene === 'function' ? app.takeScene() : '';
}

module.exports = { sceneOf, takeLaunchScene };
