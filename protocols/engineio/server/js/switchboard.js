// switchboard.js placeholder
