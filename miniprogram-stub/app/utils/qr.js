// Draws a QR code on a canvas 2d context (the vendored qrcode-generator computes the modules).

const qrcode = require('../vendor/qrcode.js');

/** The module matrix of `text` (error correction M), `true` = dark. */
function matrix(text) {
  const qr = qrcode(0, 'M');
  qr.addData(text);
  qr.make();
  const n = qr.getModuleCount();
  const rows = [];
  for (let r = 0; r < n; r += 1) {
    const row = [];
    for (let c = 0; c < n; c += 1) row.push(qr.isDark(r, c));
    rows.push(row);
  }
  return rows;
}

/**
 * Draws `text` into a `size`×`size` square of `ctx` with a 4-module quiet zone.
 * @param {any} ctx a canvas 2d context
 * @param {string} text
 * @param {number} size pixels
 */
function draw(ctx, text, size) {
  const m = matrix(text);
  const n = m.length + 8;
  const cell = Math.floor(size / n);
  const offset = Math.floor((size - cell * n) / 2) + 4 * cell;
  ctx.fillStyle = '#ffffff';
  ctx.fillRect(0, 0, size, size);
  ctx.fillStyle = '#000000';
  m.forEach((row, r) =>
    row.forEach((dark, c) => {
      if (dark) ctx.fillRect(offset + c * cell, offset + r * cell, cell, cell);
    }),
  );
}

module.exports = { matrix, draw };
