/** Which files under test/ are test suites: test/run.ts runs these, test/meta checks them. */
export const TEST_DIR = 'test';
export const TEST_PATTERN = /\.test\.ts$/;
