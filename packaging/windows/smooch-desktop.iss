; Inno Setup 6 script: installs the PyInstaller one-folder bundle of Smooch Desktop on Windows.
; NOT BUILT OR TESTED YET (no Windows machine was available); see packaging/README.md.
;
; On Windows, from the repository root:
;   .venv\Scripts\pyinstaller --noconfirm --clean packaging\smooch-desktop.spec
;   iscc packaging\windows\smooch-desktop.iss
; Output: dist\smooch-desktop-<version>-setup.exe
; To build another version without editing this file: iscc /DAppVersion=0.2.0 ...
; (keep AppVersion below equal to smooch_desktop/appinfo.py VERSION; a test checks it).

#define AppName "Smooch Desktop"
#ifndef AppVersion
#define AppVersion "0.1.0"
#endif
#define AppPublisher "Smooch Desktop contributors"
#define AppURL "https://github.com/smoochdesktop/smooch-desktop"
#define AppExeName "smooch-desktop.exe"
; Relative paths are resolved from this script's directory.
#define BundleDir "..\..\dist\smooch-desktop"

[Setup]
; The AppId identifies the installation for upgrades and uninstall: never change it.
AppId={{A0A2BF94-C8F7-41D0-A901-D4AE22A168B0}
AppName={#AppName}
AppVersion={#AppVersion}
AppVerName={#AppName} {#AppVersion}
AppPublisher={#AppPublisher}
AppPublisherURL={#AppURL}
AppSupportURL={#AppURL}/issues
AppUpdatesURL={#AppURL}/releases
VersionInfoVersion={#AppVersion}
DefaultDirName={autopf}\{#AppName}
DefaultGroupName={#AppName}
DisableProgramGroupPage=yes
; Per-machine by default (Program Files); the user may choose a per-user install instead.
PrivilegesRequired=admin
PrivilegesRequiredOverridesAllowed=dialog
; Qt 6 and the bundled 64-bit Python need 64-bit Windows 10 or later.
ArchitecturesAllowed=x64compatible
ArchitecturesInstallIn64BitMode=x64compatible
MinVersion=10.0
OutputDir=..\..\dist
OutputBaseFilename=smooch-desktop-{#AppVersion}-setup
SetupIconFile=smooch-desktop.ico
UninstallDisplayIcon={app}\{#AppExeName}
UninstallDisplayName={#AppName}
Compression=lzma2/max
SolidCompression=yes
WizardStyle=modern
; Offer to close a running copy so its files can be replaced.
CloseApplications=yes

[Languages]
Name: "english"; MessagesFile: "compiler:Default.isl"

[Tasks]
Name: "desktopicon"; Description: "{cm:CreateDesktopIcon}"; GroupDescription: "{cm:AdditionalIcons}"; Flags: unchecked

[Files]
; The whole bundle; the CI-only self-check executable is left out.
Source: "{#BundleDir}\*"; DestDir: "{app}"; Excludes: "bundle-selfcheck.exe"; Flags: ignoreversion recursesubdirs createallsubdirs

[Icons]
Name: "{autoprograms}\{#AppName}"; Filename: "{app}\{#AppExeName}"; Comment: "Send manual replies to the users of a Sunshine Conversations app"
Name: "{autodesktop}\{#AppName}"; Filename: "{app}\{#AppExeName}"; Tasks: desktopicon

[Run]
Filename: "{app}\{#AppExeName}"; Description: "{cm:LaunchProgram,{#StringChange(AppName, '&', '&&')}}"; Flags: nowait postinstall skipifsilent

; Uninstall removes exactly what was installed. Per-user data (settings, outbox) and the
; credentials in Windows Credential Manager are kept on purpose, like most desktop apps.
