process.stdout.write('dynamic-env: engine not built yet\n');
