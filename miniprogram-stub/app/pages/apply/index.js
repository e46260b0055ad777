// 申请入会: choose the union, the roster's fields (附件3), the 附件2 declaration from the API, the
// sensitive-data consent as its own tick, a drawn signature, the subscribe-message request,
// then submit (with an Idempotency-Key kept until it succeeds).
const own = require('../../utils/own.js');
const api = require('../../api/index.js');
const config = require('../../config.js');
const { describe } = require('../../utils/errors.js');
const { sceneOf, takeLaunchScene } = require('../../utils/scene.js');

const LOCAL = {
  union_id: '请选择要加入的工会',
  agree_declaration: '须阅读并同意《中华全国总工会入会申请书》',
  consent_sensitive: '须单独同意工会处理您的身份证号码等敏感个人信息',
};

const SCENE_NOT_FOUND = '未找到海报上的工会（可能已更名或注销），请搜索选择要加入的工会';

Component({
  data: {
    loading: true,
    error: null,
    declaration: null,
    q: '',
    unions: [],
    union: null,
    notice: '',
    form: {
      name: '', sex: '男', id_number: '', nationality: '汉族', education: '', mobile: '',
      household_type: '', unit_name: '', employment_status: '在岗', union_post: '会员',
    },
    sexes: ['男', '女'],
    educations: ['初中及以下', '高中/中专', '大专', '本科', '研究生'],
    households: ['农村', '城镇'],
    employments: ['在岗', '灵活就业', '其他'],
    agree: false,
    consent: false,
    signed: false,
    submitting: false,
  },
  methods: {
    /** @param {Record<string, string>} [query] */
    async onLoad(query) {
      // A poster's scene (this page's query when its code opened the mini program, or the
      // launch's), taken once so that it does not come back; or a union id from another page.
      const launched = takeLaunchScene();
      own(this).scene = sceneOf(query) || launched;
      own(this).unionId = (query && query.union_id) || '';
      await this.load();
    },
    async load() {
      this.setData({ loading: true, error: null });
      try {
        const declaration = await api.declaration();
        this.setData({ declaration });
        await this.search();
        if (own(this).scene) await this.chooseScene(own(this).scene);
        else if (own(this).unionId) {
          const chosen = this.data.unions.find((/** @type {any} */ u) => u.id === own(this).unionId);
          if (chosen) this.setData({ union: chosen });
        }
        this.setData({ loading: false });
      } catch (e) {
        this.setData({ loading: false, error: describe(e) });
      }
    },
    /**
     * Chooses the union a poster's scene names, listed by its name (for its units); an unknown
     * scene leaves the choice to the worker.
     * @param {string} scene
     */
    async chooseScene(scene) {
      try {
        const found = await api.unionByScene(scene);
        let unions = this.data.unions;
        let listed = unions.find((/** @type {any} */ u) => u.id === found.id);
        if (!listed) {
          const page = await api.unions(found.name);
          listed = page.items.find((/** @type {any} */ u) => u.id === found.id);
          if (listed) unions = page.items;
        }
        const union = listed || { id: found.id, name: found.name, unit_names: [] };
        if (!listed) unions = [union].concat(unions);
        this.setData({
          union,
          unions,
          q: listed && unions !== this.data.unions ? found.name : this.data.q,
          notice: '',
          'form.unit_name': this.data.form.unit_name || (union.unit_names[0] || ''),
        });
      } catch (e) {
        if (e && e.code === 'not_found') this.setData({ notice: SCENE_NOT_FOUND });
        else throw e;
      } finally {
        own(this).scene = '';
      }
    },
    async search() {
      const page = await api.unions(this.data.q);
      this.setData({ unions: page.items });
    },
    /** @param {any} e */
    onQuery(e) {
      this.setData({ q: e.detail.value });
    },
    /** @param {any} e */
    choose(e) {
      const union = this.data.unions[e.currentTarget.dataset.index];
      this.setData({ union, 'form.unit_name': this.data.form.unit_name || (union.unit_names[0] || '') });
    },
    /** @param {any} e */
    onField(e) {
      this.setData({ ['form.' + e.currentTarget.dataset.field]: e.detail.value });
    },
    /** @param {any} e */
    onPick(e) {
      const { field, range } = e.currentTarget.dataset;
      this.setData({ ['form.' + field]: this.data[range][Number(e.detail.value)] });
    },
    /** @param {any} e */
    onAgree(e) {
      this.setData({ agree: (e.detail.value || []).length > 0 });
    },
    /** @param {any} e */
    onConsent(e) {
      this.setData({ consent: (e.detail.value || []).length > 0 });
    },

    // The signature pad: a 2d canvas drawn with a finger.
    signatureCanvas() {
      return new Promise((resolve) => {
        if (own(this).pad) return resolve(own(this).pad);
        wx.createSelectorQuery()
          .in(this)
          .select('#signature')
          .fields({ node: true, size: true })
          .exec((res) => {
            const node = res && res[0] && res[0].node;
            if (node) {
              const ctx = node.getContext('2d');
              ctx.lineWidth = 3;
              ctx.lineCap = 'round';
              own(this).pad = { node, ctx };
            }
            resolve(own(this).pad);
          });
      });
    },
    /** @param {any} e */
    async penDown(e) {
      const pad = await this.signatureCanvas();
      if (!pad) return;
      const t = e.touches[0];
      pad.ctx.beginPath();
      pad.ctx.moveTo(t.x, t.y);
    },
    /** @param {any} e */
    penMove(e) {
      if (!own(this).pad) return;
      const t = e.touches[0];
      own(this).pad.ctx.lineTo(t.x, t.y);
      own(this).pad.ctx.stroke();
      if (!this.data.signed) this.setData({ signed: true });
    },
    clearSignature() {
      if (own(this).pad) own(this).pad.ctx.clearRect(0, 0, own(this).pad.node.width, own(this).pad.node.height);
      this.setData({ signed: false });
    },
    /** The drawn signature as base64 PNG, or null. */
    signaturePng() {
      if (!this.data.signed || !own(this).pad) return Promise.resolve(null);
      return new Promise((resolve) => {
        wx.canvasToTempFilePath({
          canvas: own(this).pad.node,
          fileType: 'png',
          success: (r) => {
            try {
              resolve(wx.getFileSystemManager().readFileSync(r.tempFilePath, 'base64'));
            } catch (_) {
              resolve(null);
            }
          },
          fail: () => resolve(null),
        });
      });
    },

    /** Asks for the application-result notification; the answer does not block submitting. */
    askSubscribe() {
      return new Promise((resolve) => {
        wx.requestSubscribeMessage({
          tmplIds: [config.applyResultTemplateId],
          success: (r) => resolve(r[config.applyResultTemplateId] === 'accept'),
          fail: () => resolve(false),
        });
      });
    },
    async submit() {
      /** @param {string} field */
      const local = (field) =>
        this.setData({ error: { code: 'invalid_field', message: LOCAL[field], field, retryable: false, action: '' } });
      if (!this.data.union) return local('union_id');
      if (!this.data.agree) return local('agree_declaration');
      if (!this.data.consent) return local('consent_sensitive');
      this.setData({ submitting: true, error: null });
      const subscribed = await this.askSubscribe();
      const f = this.data.form;
      const body = Object.assign({}, f, {
        union_id: this.data.union.id,
        id_number: f.id_number.trim().toUpperCase(),
        mobile: f.mobile.trim() || null,
        agree_declaration: true,
        declaration_version: this.data.declaration.version,
        consent_sensitive: true,
        signature_name: f.name.trim(),
        signature_png: await this.signaturePng(),
      });
      // One key per application, kept across retries until the server has it.
      own(this).key = own(this).key || api.newIdempotencyKey();
      try {
        const application = await api.apply(body, own(this).key);
        own(this).key = undefined;
        this.setData({ submitting: false, application, subscribed });
        wx.redirectTo({ url: '/pages/applications/index' });
      } catch (e) {
        this.setData({ submitting: false, error: describe(e) });
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
