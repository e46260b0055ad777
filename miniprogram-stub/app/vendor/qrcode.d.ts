// Types of the vendored qrcode-generator (app/vendor/qrcode.js, checked against npm by test.sh).
interface QRCode {
  addData(data: string): void;
  make(): void;
  getModuleCount(): number;
  isDark(row: number, col: number): boolean;
}
declare function qrcode(typeNumber: number, errorCorrectionLevel: 'L' | 'M' | 'Q' | 'H'): QRCode;
export = qrcode;
