-- Health of an Argo CD Application, as the application controller reports
-- it in status.health. Argo CD 1.8 dropped this check; the app-of-apps
-- roots need it so that their sync waves wait for platform-<env> (team
-- namespaces and quotas) to be Healthy before the team Applications sync.
-- It follows the snippet of Argo CD's 1.7 to 1.8 upgrade notes.
local hs = {status = "Progressing", message = ""}
if obj.status ~= nil and obj.status.health ~= nil and obj.status.health.status ~= nil then
  hs.status = obj.status.health.status
  if obj.status.health.message ~= nil then
    hs.message = obj.status.health.message
  end
end
return hs
