// tap coverage map: every test file is measured against src/ only.
// (tests, interop harness, scripts, bench and dist/ never count toward coverage)
export default function coverageMap(_testFile) {
  return 'src/**/*.ts';
}
