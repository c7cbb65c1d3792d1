# redmine-setup.rb - prepare a fresh Debian Redmine 5 for sla-bridge's
# end-to-end tests. Run by scripts/redmine-live.sh (first `start`) as:
#   cd /usr/share/redmine && HOME=/tmp RAILS_ENV=production SLA_LABELS="$labels" \
#     setpriv --reuid=www-data --regid=www-data --init-groups ruby bin/rails runner redmine-setup.rb
# SLA_LABELS: the label values (one per line) the "SLA labels" list field accepts.
# Idempotent: re-running updates what exists. Prints one JSON object (ids, API
# keys, ...) as the LAST line of stdout; also writes it to $SLA_REDMINE_SETUP_OUT
# if that is set (the path must be writable by the user running this).
require 'json'

PROJECT_IDENTIFIER = 'support'
AGENT_ROLE = 'Manager'
CUSTOMER_ROLE = 'Reporter'
ADMIN_PASSWORD = 'admin' # Debian's default data; only on 127.0.0.1
USERS = {
  'agent' => {firstname: 'Sam', lastname: 'Agent', mail: 'agent@example.test',
              password: 'agent-password', role: AGENT_ROLE},
  'customer' => {firstname: 'Alice', lastname: 'Customer', mail: 'customer@example.test',
                 password: 'customer-password', role: CUSTOMER_ROLE},
}
AGENT_PERMISSIONS = %i[view_issues add_issues edit_issues add_issue_notes view_private_notes
                       set_notes_private edit_own_issue_notes view_issue_watchers]
CUSTOMER_PERMISSIONS = %i[view_issues add_issues add_issue_notes]

labels = ENV.fetch('SLA_LABELS', '').split("\n").map(&:strip).reject(&:empty?).uniq
abort 'redmine-setup.rb: SLA_LABELS is empty (newline-separated label values)' if labels.empty?

# Issue custom fields, for all projects and trackers, visible to everyone.
def ensure_field(name, format)
  field = IssueCustomField.find_by(name: name) || IssueCustomField.new(name: name)
  field.field_format = format if field.new_record?
  field.field_format == format or abort "redmine-setup.rb: field #{name} exists with format #{field.field_format}"
  field.is_for_all = true
  field.visible = true
  field.is_filter = true
  field.searchable = true
  field.is_required = false
  field.editable = true
  field.tracker_ids = Tracker.pluck(:id)
  yield field if block_given?
  field.save!
  field
end

ActiveRecord::Base.transaction do
  # REST API on (the running server picks settings up without a restart);
  # no mail: nothing is configured to deliver it.
  Setting.rest_api_enabled = '1'
  Setting.notified_events = []

  admin = User.find_by_login('admin') or abort 'redmine-setup.rb: no admin user'
  admin.update_columns(must_change_passwd: false, mail_notification: 'none')
  admin.api_key # creates the token if missing

  trackers = Tracker.sorted.to_a
  statuses = IssueStatus.sorted.to_a
  %w[Bug Feature Support].each do |name|
    trackers.any? { |t| t.name == name } or abort "redmine-setup.rb: no tracker #{name}"
  end

  # Roles: permissions, and every transition between every status for the agent's role.
  roles = {}
  {AGENT_ROLE => AGENT_PERMISSIONS, CUSTOMER_ROLE => CUSTOMER_PERMISSIONS}.each do |name, perms|
    role = Role.find_by(name: name, builtin: 0) or abort "redmine-setup.rb: no role #{name}"
    missing = perms - role.permissions
    unless missing.empty?
      role.permissions = role.permissions + missing
      role.save!
    end
    roles[name] = role
  end
  agent_role = roles[AGENT_ROLE]
  trackers.each do |tracker|
    statuses.each do |from|
      statuses.each do |to|
        next if from == to
        WorkflowTransition.find_or_create_by!(tracker_id: tracker.id, role_id: agent_role.id,
                                              old_status_id: from.id, new_status_id: to.id,
                                              author: false, assignee: false)
      end
    end
  end

  # The project: private, so the customer's rights come from its Reporter membership.
  project = Project.find_by(identifier: PROJECT_IDENTIFIER) ||
            Project.new(identifier: PROJECT_IDENTIFIER)
  project.name = 'Support'
  project.description = 'sla-bridge end-to-end tests'
  project.is_public = false
  project.trackers = trackers
  project.enabled_module_names = (project.enabled_module_names | ['issue_tracking'])
  project.save!

  # Issue custom fields, for all projects and trackers, visible to everyone.
  labels_field = ensure_field('SLA labels', 'list') do |f|
    f.multiple = true
    f.possible_values = labels
    f.description = 'Labels written by sla-bridge (one value per label).'
  end
  deadline_field = ensure_field('SLA deadline', 'string') do |f|
    f.description = 'Next SLA deadline, ISO 8601 (Redmine has no datetime field).'
  end
  project.issue_custom_field_ids = (project.issue_custom_field_ids | [labels_field.id, deadline_field.id])
  project.save!

  # Users with API keys, members of the project.
  users = {}
  USERS.each do |login, attrs|
    user = User.find_by_login(login) || User.new
    user.login = login
    user.firstname = attrs[:firstname]
    user.lastname = attrs[:lastname]
    user.mail = attrs[:mail]
    user.language = 'en'
    user.admin = false
    user.status = User::STATUS_ACTIVE
    user.mail_notification = 'none'
    user.must_change_passwd = false
    unless !user.new_record? && user.check_password?(attrs[:password])
      user.password = user.password_confirmation = attrs[:password]
    end
    user.save!
    user.api_key
    role = roles[attrs[:role]]
    member = Member.find_by(project_id: project.id, user_id: user.id) ||
             Member.new(project: project, principal: user)
    member.role_ids = [role.id]
    member.save!
    users[login] = {id: user.id, login: login, password: attrs[:password],
                    api_key: user.reload.api_key, role: role.name, role_id: role.id}
  end

  result = {
    redmine_version: Redmine::VERSION.to_s,
    admin: {id: admin.id, login: admin.login, password: ADMIN_PASSWORD, api_key: admin.reload.api_key},
    agent: users['agent'],
    customer: users['customer'],
    project: {id: project.id, identifier: project.identifier, name: project.name},
    custom_fields: {labels: labels_field.id, deadline: deadline_field.id},
    labels: labels_field.possible_values,
    trackers: trackers.map { |t| {id: t.id, name: t.name} },
    statuses: statuses.map { |s| {id: s.id, name: s.name, is_closed: s.is_closed} },
    priorities: IssuePriority.active.sorted.map { |p| {id: p.id, name: p.name, is_default: p.is_default} },
    roles: Role.givable.sorted.map { |r| {id: r.id, name: r.name} },
  }
  json = JSON.generate(result)
  File.write(ENV['SLA_REDMINE_SETUP_OUT'], json + "\n") if ENV['SLA_REDMINE_SETUP_OUT'].to_s != ''
  $stdout.puts json
end
