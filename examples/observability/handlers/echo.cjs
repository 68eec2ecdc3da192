// A reactor's handler (loaded by each reactor thread): sends back what it receives.
exports.createHandler = () => ({
  onData(connection, bytes) {
    connection.write(bytes);
  },
});
