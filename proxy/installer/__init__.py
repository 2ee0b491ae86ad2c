"""The installer service of a managed server (docs/installs.md, "The installer service").

Run by the embeddable CPython the proxy package ships (`python\\pythonw.exe installer.pyz --service`): on
start and then every interval it checks the components installed on the server against the package's
SHA256SUMS and reports drift in the Application event log and in a status JSON file next to it.
"""
