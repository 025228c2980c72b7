// Starts `loyalty lsp` for .loyalty files: the server does the work
// (diagnostics, formatting, outline, hover, definition, references, rename).
const vscode = require("vscode");
const { LanguageClient, TransportKind } = require("vscode-languageclient/node");

let client;

function activate(context) {
  const command = vscode.workspace.getConfiguration("loyalty").get("path") || "loyalty";
  const server = { command, args: ["lsp"], transport: TransportKind.stdio };
  client = new LanguageClient(
    "loyalty",
    "Loyalty",
    { run: server, debug: server },
    { documentSelector: [{ scheme: "file", language: "loyalty" }] }
  );
  context.subscriptions.push(client);
  return client.start();
}

function deactivate() {
  return client ? client.stop() : undefined;
}

module.exports = { activate, deactivate };
