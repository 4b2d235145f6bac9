import { defineConfig } from 'vitest/config'

export default defineConfig({
  test: {
    projects: [
      {
        test: {
          name: 'unit',
          include: [
            'lib/**/*.test.ts',
            'scripts/**/*.test.ts',
            'tests/unit/**/*.test.ts',
            'tests/bench/**/*.test.ts',
            // The stand-in charts rendered with helm from the tools cache (after the test command's tools phase).
            'tests/standins/**/*.test.ts',
          ],
          testTimeout: 60_000,
          hookTimeout: 300_000,
        },
      },
      {
        // The runbook end to end on the local provider: one stack, files one after another.
        test: {
          name: 'local',
          include: ['tests/local/**/*.test.ts'],
          testTimeout: 600_000,
          hookTimeout: 900_000,
          fileParallelism: false,
        },
      },
      {
        // After the local tier, in the README's order: `create local` on a copy of the checkout as the tests left it.
        test: {
          name: 'readme',
          include: ['tests/readme/**/*.test.ts'],
          testTimeout: 600_000,
          hookTimeout: 300_000,
        },
      },
    ],
  },
})
