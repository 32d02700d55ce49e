-- Health of a Kubeflow Trainer v2 TrainJob (trainer.kubeflow.org/v1alpha1,
-- Trainer v2.3), read from status.conditions and spec.suspend.
--
-- Trainer v2.3 sets three condition types: Suspended (True while the job
-- is suspended, as Kueue keeps it until it admits the job; False with
-- reason Resumed after), Complete and Failed (final). A job without a
-- final condition and not suspended is running. A suspended job is
-- queued, not broken: it reads as Progressing with Kueue's reason, so that
-- it never reads as a sync that hangs.
local hs = {
  status = "Progressing",
  message = "Running",
}

local function describe(c)
  local s = c.type
  if c.reason ~= nil and c.reason ~= "" then
    s = s .. ": " .. c.reason
  end
  if c.message ~= nil and c.message ~= "" then
    s = s .. ": " .. c.message
  end
  return s
end

local suspended = obj.spec ~= nil and obj.spec.suspend == true
local queued = nil
if obj.status ~= nil and obj.status.conditions ~= nil then
  for _, c in ipairs(obj.status.conditions) do
    if c.status == "True" then
      if c.type == "Complete" then
        hs.status = "Healthy"
        hs.message = describe(c)
        return hs
      elseif c.type == "Failed" then
        hs.status = "Degraded"
        hs.message = describe(c)
        return hs
      elseif c.type == "Suspended" then
        queued = c
      end
    end
  end
end

if queued ~= nil then
  hs.message = "Queued (suspended until Kueue admits it): " .. describe(queued)
elseif suspended then
  hs.message = "Queued: suspended until Kueue admits it"
end
return hs
