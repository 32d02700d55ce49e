-- Health of a Kubeflow TFJob (kubeflow.org/v1, training-operator v1.8),
-- read from status.conditions.
--
-- The operator keeps one condition per type and moves a condition to the
-- end of the list whenever it changes, so the last condition whose status
-- is "True" is the job's current state. Created stays True for the life of
-- the job, Running turns False when the job finishes, and Succeeded and
-- Failed are final: once either is True the operator stops updating the
-- list, so a final condition wins even if a stale True condition follows
-- it.
local hs = {
  status = "Progressing",
  message = "Waiting for the training operator to pick up the job",
}

if obj.status == nil or obj.status.conditions == nil then
  return hs
end

local function describe(c)
  if c.message ~= nil and c.message ~= "" then
    return c.message
  end
  if c.reason ~= nil and c.reason ~= "" then
    return c.type .. ": " .. c.reason
  end
  return c.type
end

local current = nil
local final = nil
for _, c in ipairs(obj.status.conditions) do
  if c.status == "True" then
    current = c
    if c.type == "Succeeded" or c.type == "Failed" then
      final = c
    end
  end
end

if final ~= nil then
  current = final
end
if current == nil then
  return hs
end

if current.type == "Succeeded" then
  hs.status = "Healthy"
elseif current.type == "Failed" then
  hs.status = "Degraded"
elseif current.type == "Suspended" then
  -- dmls never suspends a TFJob: Kueue does, until it admits the job.
  -- Queued is on its way, not stuck.
  hs.status = "Progressing"
  hs.message = "Queued (suspended until Kueue admits it): " .. describe(current)
  return hs
else
  -- Created, Running and Restarting: the job is on its way.
  hs.status = "Progressing"
end
hs.message = describe(current)
return hs
