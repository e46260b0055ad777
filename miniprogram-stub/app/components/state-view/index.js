// Loading, error (with its message and a retry button when trying again can help) and empty
// states, the same on every page.
Component({
  properties: {
    loading: { type: Boolean, value: false },
    /** A describe()d error, or null. */
    error: { type: Object, value: null },
    empty: { type: Boolean, value: false },
    emptyText: { type: String, value: '暂无内容' },
  },
  methods: {
    retry() {
      this.triggerEvent('retry');
    },
  },
});
